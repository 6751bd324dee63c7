"""The floor: the least a Telegram image-editing bot can do with our libraries.

Photo in, `generateContent`, photo out; nothing stored, nothing validated, no chat actions. Same
libraries and the same choices that matter for cost as ours: python-telegram-bot with
`concurrent_updates(True)` and its default connection pool, long polling with a 10 s timeout,
google-genai's async client (through aiohttp) on `v1beta`. Run as
`python -m bench.floor_bot --api-base-url URL --file-base-url URL --gemini-base-url URL`
with TELEGRAM_BOT_TOKEN and GEMINI_API_KEY in the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from google import genai
from google.genai import types
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

log = logging.getLogger("floor_bot")


def build(args: argparse.Namespace) -> Application:  # type: ignore[type-arg]
    """The PTB application with its one handler."""
    client = genai.Client(
        api_key=os.environ["GEMINI_API_KEY"],
        http_options=types.HttpOptions(base_url=args.gemini_base_url, api_version="v1beta"),
    )
    config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])

    async def edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or not message.photo:
            return
        file = await message.photo[-1].get_file()
        data = bytes(await file.download_as_bytearray())
        response = await client.aio.models.generate_content(
            model=args.model,
            contents=types.Content(
                role="user",
                parts=[
                    types.Part.from_bytes(data=data, mime_type="image/jpeg"),
                    types.Part(text=message.caption or ""),
                ],
            ),
            config=config,
        )
        parts = response.parts or []
        image = next((p.inline_data.data for p in parts if p.inline_data is not None), None)
        if image is not None:
            await message.reply_photo(image, do_quote=True)

    app = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(args.api_base_url)
        .base_file_url(args.file_base_url)
        .concurrent_updates(True)
        .build()
    )
    app.add_handler(MessageHandler(filters.PHOTO, edit))
    return app


async def run(args: argparse.Namespace) -> None:
    """Poll until SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = build(args)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=10, allowed_updates=[Update.MESSAGE])
        await stop.wait()
        await app.updater.stop()
        await app.stop()


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-base-url", required=True)
    parser.add_argument("--file-base-url", required=True)
    parser.add_argument("--gemini-base-url", required=True)
    parser.add_argument("--model", default="gemini-2.5-flash-image")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

"""Run the real Telegram adapter (PTB) against the Bot API fake and the Gemini fake."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.config import SECTION, TelegramSettings
from bot.app import open_engine
from bot.config import Settings
from bot.engine import Engine
from bot.request import ChatKey
from tests.conftest import make_settings
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import Call, TelegramFake


def button(message: dict[str, Any], label: str) -> str:
    """The callback data of the button labelled `label` under a posted message."""
    rows = message["reply_markup"]["inline_keyboard"]
    datas = [b["callback_data"] for row in rows for b in row if b["text"] == label]
    assert datas, f"no {label!r} button in {rows}"
    return str(datas[0])


def telegram_settings(
    data_dir: Path, gemini: GeminiFake, tg: TelegramFake, **gemini_options: Any
) -> Settings:
    """Settings whose Telegram section points at the fake."""
    settings = make_settings(data_dir, gemini, **gemini_options)
    return dataclasses.replace(
        settings,
        plugins={
            **settings.plugins,
            SECTION: TelegramSettings(
                token=tg.token, api_base_url=tg.api_base_url, file_base_url=tg.file_base_url
            ),
        },
    )


def webhook_settings(base: Settings, tg: TelegramFake, port: int, secret: str) -> Settings:
    """`base` with Telegram in webhook mode, receiving on loopback `port` at /tg-hook."""
    return dataclasses.replace(
        base,
        plugins={
            **base.plugins,
            SECTION: TelegramSettings(
                token=tg.token,
                api_base_url=tg.api_base_url,
                file_base_url=tg.file_base_url,
                mode="webhook",
                webhook_url=f"http://127.0.0.1:{port}/tg-hook",
                webhook_listen="127.0.0.1",
                webhook_port=port,
                webhook_secret=secret,
            ),
        },
    )


@dataclasses.dataclass
class RunningBot:
    """A started adapter and what it runs on."""

    tg: TelegramFake
    engine: Engine
    adapter: TelegramAdapter

    async def reply_to(
        self, message: dict[str, Any], method: str = "sendPhoto", *, linked: bool | None = None
    ) -> Call:
        """Wait for the bot's `method` call answering `message` and return it.

        Results (photos) are returned once linked, as a user could only reply to them then.
        A step's status message (the queue position, a draft: it carries Stop) is no answer.
        """

        def answer() -> Call | None:
            return next((c for c in self.tg.calls_of(method) if is_answer(c, message)), None)

        call = await self.tg.wait_for(answer, timeout=15)
        if linked if linked is not None else method == "sendPhoto":
            await self.linked(self.posted(call))
        return call

    async def linked(self, posted: dict[str, Any], within: float = 15) -> None:
        """Wait until the engine has linked a message the bot posted (a user can't be faster)."""
        chat = ChatKey("telegram", str(posted["chat"]["id"]))
        async with asyncio.timeout(within):
            # The store has no change feed: poll it, bounded by the timeout above.
            while not await self.engine.is_linked(chat, str(posted["message_id"])):  # noqa: ASYNC110
                await asyncio.sleep(0.005)

    def posted(self, call: Call) -> dict[str, Any]:
        """The message the bot created with `call` (its result)."""
        result = call.response
        return result[0] if isinstance(result, list) else result


@asynccontextmanager
async def running_bot(
    tg: TelegramFake, settings: Settings, *, album_quiet_s: float = 0.3
) -> AsyncIterator[RunningBot]:
    """Start engine + adapter (long polling), stop them cleanly afterwards."""
    async with open_engine(settings) as engine:
        adapter = TelegramAdapter(
            engine,
            settings.plugin(SECTION, TelegramSettings),
            poll_timeout_s=1,
            album_quiet_s=album_quiet_s,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        try:
            await asyncio.wait_for(adapter.ready.wait(), 15)
            yield RunningBot(tg, engine, adapter)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=15)


def is_answer(call: Call, message: dict[str, Any]) -> bool:
    """Whether `call` answered `message`: a reply to it that is no status message (a queue
    position or a draft carries only Stop)."""
    reply = call.params.get("reply_parameters") or {}
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return (
        call.ok
        and str(call.params.get("chat_id")) == str(message["chat"]["id"])
        and reply.get("message_id") == message["message_id"]
        and [b["text"] for row in rows for b in row] != ["Stop"]
    )

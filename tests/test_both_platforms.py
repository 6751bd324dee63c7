"""Telegram and Discord served together by one process, from one config."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot.app import run_bot
from bot.config import TelegramSettings
from tests.conftest import photo
from tests.discord_harness import bot_settings
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake


async def test_one_process_serves_both_platforms(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg, DiscordFake() as dc:
        settings = dataclasses.replace(
            bot_settings(tmp_path / "data", gemini, dc),
            telegram=TelegramSettings(
                token=tg.token, api_base_url=tg.api_base_url, file_base_url=tg.file_base_url
            ),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(settings, stop))
        try:
            await tg.wait_for(lambda t: bool(t.calls_of("getUpdates")), timeout=30)
            # Commands are synced before the gateway connects: wait for the IDENTIFY too.
            await dc.wait_for(lambda: dc.global_commands and dc.connected, timeout=30)
            alice = tg.user(1, "Alice")
            tg.send_user_message(tg.private_chat(alice), alice, photo=photo(), caption="blue")
            interaction = await dc.slash_command("imagine", {"prompt": "a banana spaceship"})
            telegram_result = await tg.wait_for_call("sendPhoto", timeout=30)
            (discord_result,) = await dc.wait_for_followup(interaction, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    assert telegram_result.ok
    assert discord_result["attachments"]
    assert len(gemini.requests) == 2
    prompts = {c.parts[-1].text for r in gemini.requests for c in r.contents}
    assert prompts == {"blue", "a banana spaceship"}

"""How instances receive Telegram updates: the webhook set once, a polling 409 explained."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from bot.config import Settings
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings, webhook_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve_once(tg: TelegramFake, settings: Settings) -> None:
    """Start the bot in webhook mode until it receives, then stop it."""
    async with running_bot(tg, settings):
        pass


async def test_the_webhook_is_set_once_and_again_when_what_was_set_changes(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        port = free_port()
        base = telegram_settings(tmp_path, gemini, tg)
        await serve_once(tg, webhook_settings(base, tg, port, "secret-1"))
        await serve_once(tg, webhook_settings(base, tg, port, "secret-1"))  # a restart, or a peer
        assert len(tg.calls_of("setWebhook")) == 1
        await serve_once(tg, webhook_settings(base, tg, port, "secret-2"))
        assert len(tg.calls_of("setWebhook")) == 2
        assert tg.webhook_secret_token == "secret-2"
        tg.webhook_url = ""  # deleted meanwhile (a polling run deletes it)
        await serve_once(tg, webhook_settings(base, tg, port, "secret-2"))
        assert len(tg.calls_of("setWebhook")) == 3


async def test_a_polling_409_conflict_is_explained_once_and_polling_goes_on(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with TelegramFake() as tg:
        tg.fail_next("getUpdates", 409, times=3)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            conflicts = lambda: [c for c in tg.calls_of("getUpdates") if c.status == 409]  # noqa: E731
            await tg.wait_for(lambda: len(conflicts()) == 3, timeout=30)
            alice = tg.user(1, "Alice")
            sent = tg.send_user_message(tg.private_chat(alice), alice, text="a red fox")
            await bot.reply_to(sent)
    explained = [
        r for r in caplog.records if r.name.startswith("adapters") and "409" in r.getMessage()
    ]
    assert len(explained) == 1
    assert 'mode = "webhook"' in explained[0].getMessage()
    assert explained[0].exc_info is None
    assert "Exception happened while polling" not in caplog.text

"""No token, API key or image bytes in the logs of a whole conversation, even at DEBUG."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import secrets_of
from bot.logsetup import REDACTED, install_redaction
from tests.conftest import photo
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings


@pytest.fixture
def debug_everything(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram", "google_genai", "aiohttp", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("httpx", "httpcore", "telegram", "google_genai", "aiohttp", "asyncio"):
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_a_full_conversation_logs_no_secret(
    tmp_path: Path, gemini: GeminiFake, debug_everything: pytest.LogCaptureFixture
) -> None:
    picture = photo((1, 2, 3), (200, 150))
    gemini.script(
        Reply.image(), Reply.server_error(503), Reply.image(), Reply.finish("IMAGE_SAFETY")
    )
    async with TelegramFake(token="987654321:FAKE.token.only.for.log.tests") as tg:
        settings = telegram_settings(tmp_path, gemini, tg)
        undo = install_redaction(secrets_of(settings))
        try:
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            async with running_bot(tg, settings) as bot:
                sent = tg.send_user_message(chat, alice, photo=picture, caption="blue")
                await bot.reply_to(sent)
                again = tg.send_user_message(chat, alice, text="greener")
                await bot.reply_to(again)
                fail = tg.send_user_message(chat, alice, text="unsafe")
                await bot.reply_to(fail, "sendMessage")
        finally:
            undo()
    text = "\n".join(
        record.getMessage() + (record.exc_text or "") for record in debug_everything.records
    )
    assert len(debug_everything.records) > 50, "the conversation was logged at DEBUG"
    assert REDACTED in text, "the token appears in URLs and was replaced"
    # Also percent-encoded, as in file download URLs ("987654321%3AFAKE..."): a leak this
    # test found.
    for secret in (tg.token, "FAKE.token.only", "987654321%3A", settings.gemini.api_key):
        assert secret not in text
    result = gemini.requests[0].result_image or b""
    for blob in (picture, result):
        assert base64.b64encode(blob[:48]).decode()[:40] not in text
        assert base64.urlsafe_b64encode(blob[:48]).decode()[:40] not in text
    assert "\x89PNG" not in text


def test_redaction_covers_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    undo = install_redaction(["sekret-value-1"])
    try:
        log = logging.getLogger("test.redaction")
        log.warning("url %s", "http://x/botsekret-value-1/getMe")
        try:
            raise RuntimeError("failed at sekret-value-1")
        except RuntimeError:
            log.exception("boom")
    finally:
        undo()
    assert "sekret-value-1" not in caplog.text
    assert caplog.text.count(REDACTED) >= 2

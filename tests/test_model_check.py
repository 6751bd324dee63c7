"""Start-up names an unusable `gemini.model` in one log line, and never holds anything up."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram.config import TelegramSettings
from bot.app import run_bot
from bot.config import GeminiSettings
from bot.model import GeminiImageModel
from tests.conftest import make_settings
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake


async def check_configured_model(settings: GeminiSettings) -> None:
    model = GeminiImageModel(settings)
    try:
        await model.check_configured()
    finally:
        await model.aclose()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_unknown_model_is_named_in_one_warning(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, gemini, model="gemini-9-image")
    await check_configured_model(settings.gemini)
    (line,) = _warnings(caplog)
    assert "'gemini-9-image' is not among the models this API key can use" in line
    assert "bananabot models" in line


async def test_a_model_the_key_can_use_logs_nothing(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    await check_configured_model(
        make_settings(tmp_path, gemini, model="models/gemini-3-pro-image").gemini
    )
    assert _warnings(caplog) == []


async def test_gemini_out_of_reach_is_one_warning_not_a_crash(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = make_settings(tmp_path, gemini, base_url=closed)
    await check_configured_model(settings.gemini)
    (line,) = _warnings(caplog)
    assert line.startswith("could not check gemini.model")


@pytest.fixture
async def silent_gemini() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A server that accepts connections and never answers (a black-holed API)."""
    connected = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", connected


async def test_start_up_checks_the_model_without_holding_up_shutdown(
    tmp_path: Path, gemini: GeminiFake, silent_gemini: tuple[str, asyncio.Event]
) -> None:
    url, connected = silent_gemini
    # A long timeout: only cancelling the check can let the bot stop within the bound below.
    settings = make_settings(tmp_path / "data", gemini, base_url=url, timeout_s=300.0)
    async with TelegramFake() as tg:
        telegram = TelegramSettings(
            token=tg.token, api_base_url=tg.api_base_url, file_base_url=tg.file_base_url
        )
        settings = dataclasses.replace(settings, plugins={"telegram": telegram})
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(settings, stop))
        try:
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), timeout=30)
            await asyncio.wait_for(connected.wait(), 30)  # the check is under way
        finally:
            stop.set()
            # asyncio.wait, not wait_for: a late task must fail the test, not be cancelled.
            done, _ = await asyncio.wait({task}, timeout=10)
            if not done:
                task.cancel()
        assert done, "the model check held up shutdown"
        await task

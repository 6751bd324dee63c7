"""Shared harness for the Discord adapter tests (no tests here).

The real adapter (real discord.py client, real engine and SQLite store) runs against the loopback
Discord fake and the Gemini fake; tests drive the fake like users would and read what the bot
posted. Every wait is bounded and waits for a condition, never for time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from adapters.discord import DiscordAdapter
from adapters.discord.config import SECTION, DiscordSettings
from adapters.discord.plugin import plugin
from bot.app import open_engine
from bot.config import AccessSettings, Settings
from bot.engine import Engine
from bot.errors import ConfigError
from bot.request import ChatKey
from tests.conftest import make_settings
from tests.fakes.discord import DiscordFake, FakeInteraction
from tests.fakes.gemini import GeminiFake, RecordedRequest

WAIT = 10.0
Json = dict[str, Any]


def bot_settings(
    data_dir: Path,
    gemini: GeminiFake,
    dc: DiscordFake,
    *,
    access: AccessSettings | None = None,
    gemini_options: dict[str, Any] | None = None,
    **discord_options: Any,
) -> Settings:
    """Settings for a bot that talks to both fakes."""
    settings = make_settings(data_dir, gemini, **(gemini_options or {}))
    discord_settings = DiscordSettings(
        token="fake-token",
        api_base_url=dc.api_base_url,
        gateway_url=dc.gateway_url,
        **discord_options,
    )
    return dataclasses.replace(
        settings,
        plugins={**settings.plugins, SECTION: discord_settings},
        access=access or settings.access,
    )


async def until_ready(adapter: DiscordAdapter, task: asyncio.Task[None]) -> None:
    """Wait for READY, or for `run` to end early (then raise what it raised)."""
    ready = asyncio.create_task(adapter.ready.wait())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        ready.cancel()
    if task in done:
        task.result()
        raise AssertionError("the adapter stopped before READY")
    if ready not in done:
        raise TimeoutError("the adapter did not become ready")


@asynccontextmanager
async def serving(settings: Settings, shutdown_grace: float = 5.0) -> AsyncIterator[Engine]:
    """Open the engine, run the adapter until READY; stop both when the block ends."""
    async with open_engine(settings) as engine:
        adapter = DiscordAdapter(
            engine, settings, guild_ready_timeout=0.05, shutdown_grace=shutdown_grace
        )
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        try:
            await until_ready(adapter, task)
            yield engine
        finally:
            stop.set()
            await asyncio.wait_for(task, WAIT)


async def refused_start(settings: Settings) -> ConfigError:
    """Run the adapter as the app builds it; return the `ConfigError` it stops with."""
    async with open_engine(settings) as engine:
        adapter = plugin.create(engine, settings)
        try:
            await asyncio.wait_for(adapter.run(asyncio.Event()), WAIT)
        except ConfigError as refused:
            return refused
    raise AssertionError("the adapter stopped without a ConfigError")


async def until_linked(engine: Engine, channel_id: int | str, message: Json) -> None:
    """Wait until the engine linked a message the bot posted (a user can't reply faster)."""
    chat = ChatKey("discord", str(channel_id), None)
    async with asyncio.timeout(WAIT):
        # The store has no change feed: poll it, bounded by the timeout above.
        while not await engine.is_linked(chat, str(message["id"])):  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (48, 32)) -> bytes:
    """A small PNG a user might upload."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def noisy_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress: random pixels."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def attachment_bytes(dc: DiscordFake, message: Json) -> list[bytes]:
    """The files of a message the bot posted."""
    return [dc.attachment_bytes(a) for a in message["attachments"]]


def button_ids(message: Json) -> list[str]:
    """The custom ids of a message's buttons, in order."""
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def result_button_ids(turn_id: int) -> list[str]:
    """The custom ids of the buttons under a one-image result of a model without sizes."""
    return [f"bb2:{code}:{turn_id}" for code in ("r", "o", "v", "z", "rf", "i")]


def button_labels(message: Json) -> list[str]:
    return [c["label"] for row in message.get("components", []) for c in row["components"]]


def texts_of(request: RecordedRequest) -> list[tuple[str | None, list[str]]]:
    """(role, texts) per content of a Gemini request: which turns the model saw."""
    return [(c.role, [p.text for p in c.parts if p.text]) for c in request.contents]


async def bot_messages(
    dc: DiscordFake, channel_id: int, count: int, *, with_files: bool = False
) -> list[Json]:
    """Wait until the bot has posted `count` messages (with files, if asked) in a channel."""

    def found() -> list[Json] | None:
        posted = [m for m in dc.sent_messages(channel_id) if not with_files or m["attachments"]]
        return posted if len(posted) >= count else None

    return await dc.wait_for(found, WAIT)


async def ephemeral_answer(dc: DiscordFake, interaction: FakeInteraction) -> Json:
    """The ephemeral message the bot answered an interaction with (a response or follow-up)."""

    def found() -> Json | None:
        for callback in interaction.callbacks:
            data = callback.get("data") or {}
            if callback["type"] == 4 and int(data.get("flags") or 0) & 64:
                return dict(data)
        for message in interaction.followups:
            if int(message.get("flags") or 0) & 64:
                return message
        return None

    return await dc.wait_for(found, WAIT)

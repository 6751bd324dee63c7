"""The composition root: build store, model and engine once, run the enabled adapters.

Adapters are found by module name (`adapters.<platform>`, each exposing `create(engine,
settings)`), so the core's import graph never points at a platform library and a process imports
only the adapters it runs.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Protocol, cast

from bot.config import Settings
from bot.engine import Engine
from bot.limits import AccessPolicy, ModelGate
from bot.model import GeminiImageModel
from bot.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

PLATFORMS = ("telegram", "discord")
RETENTION_EVERY_S = 3600.0


class Adapter(Protocol):
    """A platform connection."""

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down cleanly. MUST NOT return before that
        unless the platform refuses us for good (bad token), in which case it raises."""


class AdapterFactory(Protocol):
    def __call__(self, engine: Engine, settings: Settings) -> Adapter: ...


class NoPlatformError(Exception):
    """No platform token is configured."""


@asynccontextmanager
async def open_engine(settings: Settings) -> AsyncIterator[Engine]:
    """Build the engine and everything it owns; close them in reverse order."""
    async with SqliteStore.open(settings.storage.data_dir) as store:
        model = GeminiImageModel(settings.gemini)
        try:
            yield Engine(
                settings,
                store,
                model,
                AccessPolicy(settings.access),
                ModelGate(settings.gemini.max_concurrent_requests),
            )
        finally:
            await model.aclose()


def enabled_platforms(settings: Settings) -> list[str]:
    """Platforms whose token is set."""
    return [
        name
        for name, enabled in (
            ("telegram", settings.telegram.enabled),
            ("discord", settings.discord.enabled),
        )
        if enabled
    ]


def load_adapter(platform: str) -> AdapterFactory:
    """Import `adapters.<platform>` lazily and return its `create` factory."""
    module = importlib.import_module(f"adapters.{platform}")
    return cast("AdapterFactory", module.create)


async def enforce_retention(
    engine: Engine, days: float, stop: asyncio.Event, every_s: float = RETENTION_EVERY_S
) -> None:
    """Delete turns and images older than `days` now, then periodically until `stop`."""
    while not stop.is_set():
        try:
            deleted = await engine.purge_older_than(days)
            if deleted:
                log.info("retention: %d turns older than %g days deleted", deleted, days)
        except Exception:
            log.exception("retention pass failed; trying again later")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run every enabled adapter in this event loop until `stop` is set (or a signal)."""
    platforms = enabled_platforms(settings)
    if not platforms:
        raise NoPlatformError
    factories = {name: load_adapter(name) for name in platforms}
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with open_engine(settings) as engine:
        log.info("starting %s", ", ".join(platforms))
        async with asyncio.TaskGroup() as group:
            for name, factory in factories.items():
                group.create_task(factory(engine, settings).run(stop), name=f"adapter-{name}")
            if settings.storage.retention_days > 0:
                group.create_task(
                    enforce_retention(engine, settings.storage.retention_days, stop),
                    name="retention",
                )
    log.info("stopped")

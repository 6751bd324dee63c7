"""The composition root: build store, model and engine once, run the enabled adapters.

Adapters are plugins found by entry point (`bot.plugins`), so the core's import graph never
points at a platform library and a process imports only the platform libraries it runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial

from bot.config import ServerSettings, Settings, StorageSettings
from bot.coordination import Instance
from bot.engine import Engine
from bot.errors import ConfigError
from bot.limits import AccessPolicy, ModelGate
from bot.metrics import Metrics, counting
from bot.model import GeminiImageModel
from bot.plugins import Adapter, Plugins, discover_plugins
from bot.server import Connections, OperationsServer
from bot.store import Store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0
SWEEP_EVERY_S = 60.0  # how soon a dead instance's steps are announced and its holds freed


class NoPlatformError(Exception):
    """No adapter plugin is enabled by the config."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How long to wait before restarting a failed adapter: doubling, bounded."""

    first_delay_s: float = 1.0
    max_delay_s: float = 120.0
    healthy_after_s: float = 600.0  # a run this long was a success: start counting again

    def delay(self, failures: int) -> float:
        """The wait before the restart that follows `failures` failures in a row."""
        doublings = min(max(failures - 1, 0), 32)
        return min(self.max_delay_s, self.first_delay_s * 2.0**doublings)


async def supervise(
    name: str,
    make: Callable[[], Adapter],
    stop: asyncio.Event,
    refusals: list[ConfigError],
    policy: RestartPolicy = RestartPolicy(),
    connections: Connections | None = None,
) -> None:
    """Run an adapter until `stop`; restart it with backoff when it fails.

    A `ConfigError` (bad token, a refused intent) is a refusal for good: it goes to `refusals`
    and sets `stop`, so the other adapters shut down cleanly and the process exits.
    `connections` learns which adapter instance is running, for `/healthz`.
    """
    connections = connections or Connections([name])
    loop = asyncio.get_running_loop()
    failures = 0
    while not stop.is_set():
        started = loop.time()
        try:
            adapter = make()
            with connections.running(name, adapter):
                await adapter.run(stop)
        except ConfigError as exc:
            refusals.append(exc)
            stop.set()
            return
        except Exception:
            if stop.is_set():
                log.warning("%s adapter failed while stopping", name, exc_info=True)
                return
            failures = 1 if loop.time() - started >= policy.healthy_after_s else failures + 1
            delay = policy.delay(failures)
            log.exception(
                "%s adapter failed (%d in a row); restarting in %.1f s", name, failures, delay
            )
        else:
            if stop.is_set():
                return
            failures += 1
            delay = policy.delay(failures)
            log.error("%s adapter stopped unasked; restarting in %.1f s", name, delay)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


@dataclass(frozen=True, slots=True)
class EngineParts:
    """The engine and the parts the operations endpoint watches beside it."""

    engine: Engine
    store: Store  # counting its failures in `metrics`
    metrics: Metrics


@asynccontextmanager
async def open_engine(settings: Settings, *, check_model: bool = False) -> AsyncIterator[Engine]:
    """Build the engine and everything it owns; close them in reverse order."""
    async with open_engine_parts(settings, check_model=check_model) as parts:
        yield parts.engine


@asynccontextmanager
async def open_engine_parts(
    settings: Settings, *, check_model: bool = False
) -> AsyncIterator[EngineParts]:
    """Build the engine, its store and its metrics; close them in reverse order.

    `check_model` also checks `gemini.model` beside start-up (`run`), on the engine's own
    client: a second one would cost ~100 ms of start-up. Shutdown cancels the check.
    """
    metrics = Metrics()
    async with _open_store(settings.storage) as opened:
        store = counting(opened, metrics)
        gate = ModelGate(settings.gemini.max_concurrent_requests)
        metrics.watch_queue(lambda: gate.waiting)
        model = GeminiImageModel(settings.gemini)
        check = (
            asyncio.create_task(model.check_configured(), name="model-check")
            if check_model
            else None
        )
        try:
            engine = Engine(
                settings, store, model, AccessPolicy(settings.access), gate, metrics=metrics
            )
            yield EngineParts(engine, store, metrics)
        finally:
            if check is not None:
                check.cancel()
                with suppress(asyncio.CancelledError):
                    await check
            await model.aclose()


@asynccontextmanager
async def _open_store(storage: StorageSettings) -> AsyncIterator[Store]:
    """The configured store (SQLite in `data_dir`, or PostgreSQL at `database_url`), this
    instance alive in it while the block runs."""
    instance = Instance(storage.instance) if storage.instance else Instance()
    opened: AbstractAsyncContextManager[Store] = (
        PostgresStore.open(storage.database_url, storage.pool_size, instance)
        if storage.backend == "postgresql"
        else SqliteStore.open(storage.data_dir, instance)
    )
    async with opened as store, store.coordination.alive():
        yield store


async def periodically(
    job: Callable[[], Awaitable[object]],
    every_s: float,
    stop: asyncio.Event,
    *,
    what: str,
    at_once: bool,
) -> None:
    """Run `job` every `every_s` until `stop` (the first time at once, or after one wait),
    logging a failure as `what` and going on."""
    wait = not at_once
    while not stop.is_set():
        if wait:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            if stop.is_set():
                return
        wait = True
        try:
            await job()
        except Exception:
            log.exception("%s failed; trying again later", what)


@asynccontextmanager
async def _serving_operations(
    server: ServerSettings, parts: EngineParts, connections: Connections
) -> AsyncIterator[None]:
    """Serve `/healthz` and `/metrics` while the block runs, when `[server]` enables them."""
    if not server.enabled:
        yield
        return
    operations = OperationsServer(parts.store, parts.metrics, connections)
    await operations.start(server.listen, server.port)
    try:
        yield
    finally:
        await operations.aclose()


async def enforce_retention(
    engine: Engine, days: float, stop: asyncio.Event, every_s: float = RETENTION_EVERY_S
) -> None:
    """Delete turns and images older than `days` now, then periodically until `stop`."""

    async def purge() -> None:
        deleted = await engine.purge_older_than(days)
        if deleted:
            log.info("retention: %d turns older than %g days deleted", deleted, days)

    await periodically(purge, every_s, stop, what="retention pass", at_once=True)


async def run_bot(
    settings: Settings,
    stop: asyncio.Event | None = None,
    restart: RestartPolicy = RestartPolicy(),
    plugins: Plugins | None = None,
) -> None:
    """Run every enabled adapter in this event loop until `stop` is set (or a signal).

    `plugins` defaults to the installed ones; `settings` must hold their parsed sections.
    Raises an `ExceptionGroup` of `ConfigError`s when a platform refused us for good.
    """
    installed = discover_plugins() if plugins is None else plugins
    enabled = installed.enabled(settings)
    if not enabled:
        raise NoPlatformError
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    refusals: list[ConfigError] = []
    connections = Connections(plugin.name for plugin in enabled)
    async with (
        open_engine_parts(settings, check_model=True) as parts,
        _serving_operations(settings.server, parts, connections),
    ):
        engine = parts.engine
        log.info("starting %s", ", ".join(plugin.name for plugin in enabled))
        async with asyncio.TaskGroup() as group:
            for plugin in enabled:
                make = partial(plugin.create, engine, settings)
                group.create_task(
                    supervise(plugin.name, make, stop, refusals, restart, connections),
                    name=f"adapter-{plugin.name}",
                )
            # Steps of instances that died: announced once, by whoever looks first.
            sweep = periodically(
                engine.sweep_interrupted,
                SWEEP_EVERY_S,
                stop,
                what="looking for interrupted steps",
                at_once=False,  # each adapter announces at its start
            )
            group.create_task(sweep, name="sweep-interrupted")
            if settings.storage.retention_days > 0:
                group.create_task(
                    enforce_retention(engine, settings.storage.retention_days, stop),
                    name="retention",
                )
    if refusals:
        raise ExceptionGroup("a platform refused to serve", refusals)
    log.info("stopped")

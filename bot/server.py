"""The operations endpoint (`[server]`): `/healthz` for orchestrators, `/metrics` for Prometheus.

`/healthz` answers 200 when every enabled adapter is connected and the database answers a
trivial query within `DATABASE_TIMEOUT_S`, else 503; its JSON body names what is down. It says
nothing of Gemini: a model outage is the model's, and restarting the bot would not cure it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from aiohttp import web

from bot.listener import listen_on
from bot.metrics import Metrics
from bot.plugins import Adapter
from bot.store import Store

log = logging.getLogger(__name__)

# Short: a health check that waits on a stuck database only makes its caller time out too.
DATABASE_TIMEOUT_S = 2.0


class Connections:
    """The adapter each platform runs now; the supervisor builds a new one per restart."""

    def __init__(self, names: Iterable[str]) -> None:
        self._current: dict[str, Adapter | None] = dict.fromkeys(names)

    @contextmanager
    def running(self, name: str, adapter: Adapter) -> Iterator[None]:
        """Make `adapter` the one serving `name` while the block runs."""
        self._current[name] = adapter
        try:
            yield
        finally:
            self._current[name] = None

    def states(self) -> dict[str, str]:
        """Each platform: "connected", "not connected" or "not running" (between restarts)."""
        return {name: _state(adapter) for name, adapter in self._current.items()}


def _state(adapter: Adapter | None) -> str:
    if adapter is None:
        return "not running"
    try:
        connected = adapter.connected
    except Exception:  # a plugin written before `connected` joined the contract, say
        log.warning(
            "%s cannot tell whether it is connected", type(adapter).__name__, exc_info=True
        )
        return "unknown"
    return "connected" if connected else "not connected"


class OperationsServer:
    """Serves `/healthz` and `/metrics` over aiohttp until closed."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        connections: Connections,
        database_timeout_s: float = DATABASE_TIMEOUT_S,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._connections = connections
        self._timeout_s = database_timeout_s
        self._runner: web.AppRunner | None = None

    async def start(self, listen: str, port: int) -> None:
        """Listen on `listen`:`port`."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._scrape)
        self._runner = await listen_on(app, listen, port)
        log.info("serving /healthz and /metrics on %s:%d", listen, port)

    async def aclose(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        adapters = self._connections.states()
        database = await self._database_state()
        healthy = database == "ok" and all(s == "connected" for s in adapters.values())
        body = {"status": "ok" if healthy else "down", "database": database, "adapters": adapters}
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(body),
            content_type="application/json",
        )

    async def _database_state(self) -> str:
        """ "ok", or why the database did not answer (the error's type: never its text, which
        may quote the database URL)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._store.ping()
        except TimeoutError:
            self._metrics.database_errors.labels("ping").inc()  # the store call never ended
            return f"no answer within {self._timeout_s:g} s"
        except Exception as exc:
            return f"error: {type(exc).__name__}"
        return "ok"

    async def _scrape(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(self._timeout_s):
                self._metrics.images_stored(await self._store.count_images())
        except TimeoutError:
            self._metrics.database_errors.labels("count_images").inc()
        except Exception:
            # Counted by the store's counter; the gauge keeps its last value meanwhile.
            log.debug("could not count images for /metrics", exc_info=True)
        body, content_type = self._metrics.exposition(request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

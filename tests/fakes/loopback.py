"""Serve an aiohttp application on a free loopback port (the fakes and the bench control)."""

from __future__ import annotations

import socket

from aiohttp import web


async def serve(
    app: web.Application, host: str = "127.0.0.1", *, shutdown_timeout: float = 2.0
) -> tuple[web.AppRunner, int]:
    """Start `app` on an OS-chosen port of `host`; clean up with `runner.cleanup()`."""
    # No access log: fakes answer thousands of requests per test; shutdown stays quick.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    return runner, int(runner.addresses[0][1])


def free_port() -> int:
    """A loopback port free right now, for a server that must be told its port up front."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""Serve an aiohttp application on one address: the operations endpoint, an adapter's webhook."""

from __future__ import annotations

from aiohttp import web


async def listen_on(app: web.Application, listen: str, port: int) -> web.AppRunner:
    """Serve `app` on `listen`:`port`; stop it with `runner.cleanup()`.

    No access log: a webhook's path is a secret, and health probes come every few seconds.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, listen, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner

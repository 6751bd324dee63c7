"""Receive Telegram's webhook calls and queue their updates for the PTB application.

PTB's own webhook server answers 400 to an update it cannot parse, so Telegram delivers it
again and again, and the updates behind it wait (for up to a day). This one reads each update
with `read_update` and answers 200 for one it has to skip. It checks what PTB's checks: a
JSON body and, when configured, the secret token header.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from telegram.ext import ExtBot

from adapters.telegram.sending import call
from adapters.telegram.updates import read_update
from bot.coordination import Coordination
from bot.listener import listen_on

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # updates are small JSON documents (a message is at most a few KB)


class WebhookReceiver:
    """An aiohttp server on `path` that puts each update it receives on `queue`."""

    def __init__(
        self, bot: ExtBot[Any], queue: asyncio.Queue[object], path: str, secret: str | None
    ) -> None:
        self._bot = bot
        self._queue = queue
        self._path = "/" + path.strip("/")
        self._secret = secret
        self._runner: web.AppRunner | None = None

    async def start(self, listen: str, port: int) -> None:
        """Listen on `listen`:`port`."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._path, self._receive)
        app.router.add_post(self._path + "/", self._receive)
        self._runner = await listen_on(app, listen, port)

    async def aclose(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.Response(status=403)
        if self._secret is not None and not hmac.compare_digest(
            request.headers.get(SECRET_HEADER, "").encode(), self._secret.encode()
        ):
            log.debug("telegram: webhook call without the right secret token")
            return web.Response(status=403)
        try:
            data = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400)  # not from Telegram, which always sends JSON
        update = read_update(data, self._bot)
        if update is not None:
            await self._queue.put(update)
        # 200 also for an update that was skipped: anything else makes Telegram send it again.
        return web.Response(status=200)


async def set_webhook_once(
    bot: ExtBot[Any],
    coordination: Coordination,
    url: str,
    secret: str | None,
    allowed_updates: Sequence[str],
) -> bool:
    """Point Telegram at `url` unless it already points there as configured; True if set.

    Several instances behind one URL start together: under a lock they share, the first sets
    the webhook and notes what it set (a digest, never the secret); the others find the note
    and Telegram's URL matching and leave it alone, so they never fight over it. A changed
    secret or list of updates changes the digest, and the webhook is set again.
    """
    digest = hashlib.sha256(
        json.dumps([url, secret or "", sorted(allowed_updates)]).encode()
    ).hexdigest()
    name = f"telegram:webhook:{bot.id}"
    async with coordination.serialized(name):
        info = await call(bot.get_webhook_info, what="getWebhookInfo")
        if info.url == url and await coordination.mark(name) == digest:
            return False
        await call(
            lambda: bot.set_webhook(url, allowed_updates=allowed_updates, secret_token=secret),
            what="setWebhook",
        )
        await coordination.set_mark(name, digest)
    return True

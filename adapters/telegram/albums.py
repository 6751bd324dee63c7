"""Collect the items of a Telegram album (separate updates sharing `media_group_id`).

Telegram sends no count and no end marker, so an album is complete once no item arrived for
`quiet_s`, or `max_wait_s` after its first item. Behind a load balancer an album's items may
reach different instances, so each item is gathered in the shared store (`Coordination`), and
whichever instance asks first once the album is complete gets all of it: one album, one turn.
Items are kept without downloading and the handler returns at once: awaiting here would hold
back the album's other updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, Message

from bot.coordination import Coordination

log = logging.getLogger(__name__)

QUIET_S = 1.2
MAX_WAIT_S = 4.0

AlbumHandler = Callable[[list[Message]], Awaitable[None]]


class AlbumCollector:
    """Gathers album items per (chat, media_group_id) and hands each album over once."""

    def __init__(
        self,
        coordination: Coordination,
        bot: Bot,
        on_album: AlbumHandler,
        *,
        quiet_s: float = QUIET_S,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self._coordination = coordination
        self._bot = bot
        self._on_album = on_album
        self._quiet_s = quiet_s
        self._max_wait_s = max_wait_s
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message: Message) -> None:
        """Gather one album item; the album is handed over once complete."""
        assert message.media_group_id is not None
        key = f"telegram:album:{message.chat.id}:{message.media_group_id}"
        item = json.dumps(message.to_dict(), separators=(",", ":"))
        task = asyncio.create_task(self._gather(key, item), name=f"album-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _gather(self, key: str, item: str) -> None:
        # Every item waits on its own, so none is left behind by a waiter that took the album
        # just before it arrived; the store hands the album to one of them only.
        try:
            await self._coordination.gather(key, item)
            got: Sequence[str] | float = self._quiet_s
            while isinstance(got, float):
                await asyncio.sleep(got)
                got = await self._coordination.take(key, self._quiet_s, self._max_wait_s)
            if not got:
                return  # another waiter, here or on another instance, has it
            items = [Message.de_json(json.loads(i), self._bot) for i in got]
            await self._on_album(sorted(items, key=lambda m: m.message_id))
        except Exception:
            log.exception("album %s failed", key)

    async def aclose(self) -> None:
        """Stop waiting; albums still being collected are dropped here (another instance
        holding some of their items still takes them)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

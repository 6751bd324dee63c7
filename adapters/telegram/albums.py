"""Collect the items of a Telegram album (separate updates sharing `media_group_id`).

Telegram sends no count and no end marker, so an album is complete once no item arrived for
`quiet_s`, or `max_wait_s` after its first item. Items are buffered without downloading and the
handler returns at once: awaiting here would hold back the album's other updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Message

log = logging.getLogger(__name__)

QUIET_S = 1.2
MAX_WAIT_S = 4.0

AlbumHandler = Callable[[list[Message]], Awaitable[None]]


@dataclass(slots=True)
class _Pending:
    items: list[Message]
    first_at: float
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class AlbumCollector:
    """Buffers album items per (chat, media_group_id) and hands over each album once."""

    def __init__(
        self, on_album: AlbumHandler, *, quiet_s: float = QUIET_S, max_wait_s: float = MAX_WAIT_S
    ) -> None:
        self._on_album = on_album
        self._quiet_s = quiet_s
        self._max_wait_s = max_wait_s
        self._pending: dict[tuple[int, str], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message: Message) -> None:
        """Buffer one album item; the first item starts the album's timer."""
        assert message.media_group_id is not None
        key = (message.chat.id, message.media_group_id)
        pending = self._pending.get(key)
        if pending is not None:
            pending.items.append(message)
            pending.arrived.set()
            return
        loop = asyncio.get_running_loop()
        self._pending[key] = _Pending([message], loop.time())
        task = asyncio.create_task(self._wait_and_flush(key), name=f"album-{key[1]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_and_flush(self, key: tuple[int, str]) -> None:
        pending = self._pending[key]
        loop = asyncio.get_running_loop()
        while True:
            pending.arrived.clear()
            left = pending.first_at + self._max_wait_s - loop.time()
            try:
                async with asyncio.timeout(min(self._quiet_s, max(left, 0))):
                    await pending.arrived.wait()
            except TimeoutError:
                break
        del self._pending[key]
        items = sorted(pending.items, key=lambda m: m.message_id)
        try:
            await self._on_album(items)
        except Exception:
            log.exception("album %s failed", key[1])

    async def aclose(self) -> None:
        """Stop waiting; albums still being collected are dropped."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

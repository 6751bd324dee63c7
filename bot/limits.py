"""Who may use the bot, and how many model calls run at once."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.config import AccessSettings
from bot.request import Author, ChatKey


class AccessPolicy:
    """Allow-lists from `[access]`; admins always pass. Ids are "platform:id" or a bare id."""

    def __init__(self, settings: AccessSettings) -> None:
        self._chats = frozenset(settings.allowed_chats)
        self._users = frozenset(settings.allowed_users)
        self._admins = frozenset(settings.admins)

    @staticmethod
    def _matches(ids: frozenset[str], platform: str, value: str) -> bool:
        return value in ids or f"{platform}:{value}" in ids

    def is_admin(self, chat: ChatKey, author: Author) -> bool:
        """Bot admins from the config (not chat admins)."""
        return self._matches(self._admins, chat.platform, author.user_id)

    def allows(self, chat: ChatKey, author: Author) -> bool:
        """Whether `author` may use the bot in `chat`."""
        if self.is_admin(chat, author):
            return True
        if self._users and not self._matches(self._users, chat.platform, author.user_id):
            return False
        return not self._chats or self._matches(self._chats, chat.platform, chat.chat_id)


class ModelGate:
    """A FIFO semaphore for model calls that can tell a waiting caller its queue position."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def slot(
        self, on_queued: Callable[[int], Awaitable[None]] | None = None
    ) -> AsyncIterator[None]:
        """Hold one model slot; `on_queued(position)` is awaited when the caller must wait."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                if on_queued is not None:
                    await on_queued(len(self._waiters))
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._release()  # the slot was handed to us as we were cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot over directly: FIFO, no barging
                return
        self._free += 1

"""Who may use the bot, and how many model calls run at once."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.config import AccessSettings
from bot.request import Author, ChatKey


class AccessPolicy:
    """Allow- and block-lists from `[access]`. Ids are "platform:id" or a bare id.

    Admins always pass; otherwise any block-list match refuses, and every non-empty
    allow-list must match (users, chats, Discord guilds, and at least one Discord role).
    """

    def __init__(self, settings: AccessSettings) -> None:
        self._chats = frozenset(settings.allowed_chats)
        self._users = frozenset(settings.allowed_users)
        self._admins = frozenset(settings.admins)
        self._guilds = frozenset(settings.allowed_guilds)
        self._roles = frozenset(settings.allowed_roles)
        self._blocked_chats = frozenset(settings.blocked_chats)
        self._blocked_users = frozenset(settings.blocked_users)
        self._blocked_guilds = frozenset(settings.blocked_guilds)
        self._blocked_roles = frozenset(settings.blocked_roles)

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
        p = chat.platform
        guild = chat.guild_id or ""
        if (
            self._matches(self._blocked_users, p, author.user_id)
            or self._matches(self._blocked_chats, p, chat.chat_id)
            or (guild and self._matches(self._blocked_guilds, p, guild))
            or any(self._matches(self._blocked_roles, p, role) for role in author.roles)
        ):
            return False
        if self._users and not self._matches(self._users, p, author.user_id):
            return False
        if self._chats and not self._matches(self._chats, p, chat.chat_id):
            return False
        if self._guilds and guild and not self._matches(self._guilds, p, guild):
            return False
        # Role lists apply where roles exist: Discord servers, not DMs or Telegram.
        return not (
            self._roles
            and guild
            and not any(self._matches(self._roles, p, role) for role in author.roles)
        )


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

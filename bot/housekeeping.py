"""Deleting and recovering: /forget, retention, and steps a crash interrupted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot import messages
from bot.chat_settings import ChatSettings
from bot.delivery import Delivery, Outbox
from bot.outcome import Failure, FailureKind
from bot.request import Author, ChatKey
from bot.store import Store

log = logging.getLogger(__name__)

OutboxFactory = Callable[[ChatKey, str | None, str | None], Outbox]


class Housekeeping:
    """Removes what users and retention ask to remove; announces interrupted steps."""

    def __init__(self, store: Store, chat_settings: ChatSettings, delivery: Delivery) -> None:
        self._store = store
        self._chat_settings = chat_settings
        self._delivery = delivery
        self._outboxes: dict[str, OutboxFactory] = {}  # per platform, for `sweep`

    async def forget(self, chat: ChatKey, author: Author) -> int:
        """Delete every turn `author` wrote on this platform and the answers to them.

        Links and images nobody else uses go too; others' turns that continued from them
        become roots of their own. Returns how many turns went.
        """
        turns = await self._store.turns_by_author(chat.platform, author.user_id)
        deleted = await self._store.delete_turns(turns)
        log.info("%s: a user's data was forgotten (%d turns)", chat.platform, deleted)
        return deleted

    async def purge_older_than(self, days: float) -> int:
        """Delete turns (and then unused images) older than `days`; 0 without looking while
        another instance is at it."""
        async with self._store.coordination.exclusive("retention") as alone:
            if not alone:
                return 0
            cutoff = datetime.now(UTC).timestamp() - days * 86400
            return await self._store.delete_turns(await self._store.turns_older_than(cutoff))

    async def announce_interrupted(self, platform: str, outbox_for: OutboxFactory) -> int:
        """Tell the authors of steps a crash interrupted, with Retry, each exactly once
        whichever instance finds them; `sweep` looks again later with the same `outbox_for`.

        `outbox_for(chat, message id, locale)` builds where to say it; returns how many.
        """
        self._outboxes[platform] = outbox_for
        pending = await self._store.coordination.claim_interrupted(platform)
        for turn in pending:
            locale = (await self._chat_settings.stored(turn.chat)).get("language") or turn.locale
            failure = Failure(
                FailureKind.INTERRUPTED,
                messages.text("interrupted", locale),
                turn.turn_id,
                retryable=True,
            )
            outbox = outbox_for(turn.chat, turn.message_id, locale)
            await self._delivery.post(turn.chat, outbox, failure, locale)
        if pending:
            log.warning("%s: %d interrupted steps announced", platform, len(pending))
        return len(pending)

    async def sweep(self) -> int:
        """Announce the steps of instances that died since (on every platform announced
        before), and free what they held."""
        found = 0
        for platform, outbox_for in list(self._outboxes.items()):
            found += await self.announce_interrupted(platform, outbox_for)
        return found

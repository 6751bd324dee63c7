"""How an outcome reaches the user's thread, and how what was posted is linked to its turn."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.actions import ActionRegistry
from bot.cards import Card, card_for
from bot.outcome import Outcome, Success
from bot.request import ChatKey
from bot.store import Store

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """How the engine talks back to the user's thread; one per incoming event."""

    async def status(self, card: Card) -> None:
        """Show or update the step's one status message: its queue position or the model's
        draft (at most one image), with the card's buttons (Stop).

        Posted as a reply in the user's thread the first time, edited in place after that
        where the platform can. Called at a pace the core keeps (one per chat every 1.5 s).
        MUST NOT raise: a status that cannot be shown is skipped.
        """

    async def deliver(self, card: Card) -> Sequence[str]:
        """Post the card as a reply in the user's thread; return the posted message ids.

        MUST render every button of the card (the adapter needs no knowledge of actions).
        Ids returned are linked to the card's turn, so replies to them continue the lineage.
        When each of several images is posted as a message of its own (an album), their ids
        MUST come first, in the images' order: each is linked to its own variant.
        A status message shown for the step MUST NOT stay behind as it was: it is removed
        after the card is posted, or becomes the card's first message.
        """


class Delivery:
    """Turns outcomes into cards, hands them to outboxes, links what was posted."""

    def __init__(self, store: Store, actions: ActionRegistry) -> None:
        self._store = store
        self._actions = actions

    def card(self, outcome: Outcome, locale: str | None) -> Card:
        """How `outcome` is shown: its text, notes, images and the actions it offers."""
        return card_for(outcome, self._actions, locale)

    async def post(
        self, chat: ChatKey, outbox: Outbox, outcome: Outcome, locale: str | None
    ) -> Outcome:
        """Show `outcome` in the user's thread and link what was posted to its turn, in `chat`.

        Every turn a step touches lives in the step's chat: parents are found through links
        scoped by it, and Retry checks the lineage's chat, so the links stay in that chat.
        """
        card = self.card(outcome, locale)
        try:
            posted = await outbox.deliver(card)
        except Exception:
            # The turn is stored either way; the adapter's own error boundary reports details.
            log.exception("could not deliver %s", type(outcome).__name__)
            return outcome
        if isinstance(outcome, Success) and outcome.variants and posted:
            await self._link_variants(chat, posted, outcome.variants)
        elif card.turn_id is not None and posted:
            await self._store.link(chat, posted, card.turn_id)
        return outcome

    async def _link_variants(
        self, chat: ChatKey, posted: Sequence[str], variants: Sequence[int]
    ) -> None:
        """One message per image: each to its variant; a message for all: to the first."""
        rest = posted
        if len(posted) >= len(variants):
            for message_id, variant in zip(posted, variants, strict=False):
                await self._store.link(chat, [message_id], variant)
            rest = posted[len(variants) :]
        if rest:
            await self._store.link(chat, rest, variants[0])

"""How an outcome reaches the user's thread, and how what was posted is linked to its turn."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.actions import ActionRegistry
from bot.cards import Card, card_for
from bot.outcome import Outcome
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
        if card.turn_id is not None and posted:
            await self._store.link(chat, posted, card.turn_id)
        return outcome

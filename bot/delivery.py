"""How an outcome reaches the user's thread, and how what was posted is linked to its turn."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.outcome import Outcome, Success
from bot.request import ChatKey
from bot.store import Store

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """How the engine talks back to the user's thread; one per incoming event."""

    async def queued(self, position: int) -> None:
        """Show that the step waits for a model slot. MUST NOT raise for display problems."""

    async def deliver(self, outcome: Outcome) -> Sequence[str]:
        """Post the outcome as a reply in the user's thread; return the posted message ids.

        Ids returned for a `Success` are linked to its model turn, for a `Failure` with a
        stored user turn to that turn, so replies to them continue the lineage.
        """


async def deliver(store: Store, chat: ChatKey, outbox: Outbox, outcome: Outcome) -> Outcome:
    """Hand `outcome` to the adapter and link what it posted to the turn, in `chat`.

    Every turn a step touches lives in the step's chat: parents are found through links scoped
    by it, and Retry checks the lineage's chat, so the links stay in that chat.
    """
    try:
        posted = await outbox.deliver(outcome)
    except Exception:
        # The turn is stored either way; the adapter's own error boundary reports details.
        log.exception("could not deliver %s", type(outcome).__name__)
        return outcome
    turn_id = outcome.model_turn_id if isinstance(outcome, Success) else outcome.user_turn_id
    if turn_id is not None and posted:
        await store.link(chat, posted, turn_id)
    return outcome

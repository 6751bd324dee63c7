"""What a platform shows for an outcome: text, notes, images and the actions offered.

The core decides all of it; adapters only lay a card out within their platform's limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.actions import ActionRegistry, Button
from bot.outcome import Failure, Outcome, ResultImage, Source, Success

MAX_SOURCES = 5  # Google's grounding terms want sources shown; five keep a caption readable


@dataclass(frozen=True, slots=True)
class Card:
    """One message's worth of content, before platform formatting."""

    text: str  # the model's visible text, or a ready sentence
    notes: tuple[str, ...] = ()  # short remarks adapters show de-emphasised
    images: tuple[ResultImage, ...] = ()
    buttons: tuple[Button, ...] = ()
    outcome: Outcome | None = None  # the step outcome the card shows, if it shows one
    sources: tuple[Source, ...] = ()  # web pages to list under the result, as links
    name: str | None = None  # the images' file name stem; None: named after the turn

    @property
    def turn_id(self) -> int | None:
        """The turn the card shows (a result's model turn, a failure's user turn)."""
        if isinstance(self.outcome, Success):
            return self.outcome.model_turn_id
        if isinstance(self.outcome, Failure):
            return self.outcome.user_turn_id
        return None

    @property
    def file_stem(self) -> str:
        """What the card's image files are called, before "-n.png"."""
        return self.name or f"bananabot-{self.turn_id}"


def card_for(outcome: Outcome, actions: ActionRegistry, locale: str | None) -> Card:
    """The card that shows `outcome`, with every action its outcome offers."""
    buttons = actions.offered(outcome, locale)
    if isinstance(outcome, Failure):
        return Card(outcome.message, outcome.notes, buttons=buttons, outcome=outcome)
    sources = outcome.sources[:MAX_SOURCES]
    return Card(outcome.text, outcome.notes, outcome.images, buttons, outcome, sources)

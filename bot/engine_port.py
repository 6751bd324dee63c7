"""The engine as adapters see it: the inbound port.

Adapters turn platform events into these calls and render what comes back; they never reach
the store, the model or the engine's internals. `bot.engine.Engine` implements this Protocol
(a test checks it), and a test double may too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.actions import ActionRegistry, PressReply
from bot.cards import Card
from bot.chat_settings import ChatSettings
from bot.coordination import Coordination
from bot.delivery import Outbox
from bot.housekeeping import OutboxFactory
from bot.limits import AccessPolicy
from bot.lineage import Turn
from bot.outcome import Outcome
from bot.request import Author, ChatKey, EditRequest, ImageSource


class EnginePort(Protocol):
    """What an adapter may ask of the core."""

    @property
    def access(self) -> AccessPolicy:
        """Who may use the bot where (to refuse cheaply before deferring, say)."""

    @property
    def actions(self) -> ActionRegistry:
        """The actions cards may offer."""

    @property
    def coordination(self) -> Coordination:
        """What the instances sharing the store agree on: album items that reached different
        instances, jobs only one instance does (setting a webhook)."""

    @property
    def settings_service(self) -> ChatSettings:
        """Per-chat settings: lines to show, checks, changes, who may change them."""

    async def handle(self, request: EditRequest, outbox: Outbox) -> Outcome:
        """Run one editing step; the outcome is delivered to `outbox` as a card.

        MUST store the user's turn before the model is called and MUST deliver every outcome.
        """

    async def press(self, payload: str, chat: ChatKey, author: Author, reply: PressReply) -> None:
        """Run the action a pressed button's payload names, or say why not."""

    async def retry(self, chat: ChatKey, author: Author, turn_id: int, outbox: Outbox) -> Outcome:
        """Answer a stored user turn again (the console's /retry)."""

    async def new_session(self, chat: ChatKey) -> None:
        """Make the chat's next plain message start a new lineage."""

    async def is_linked(self, chat: ChatKey, message_id: str) -> bool:
        """Whether a message in `chat` shows a turn (replies to it are for the bot)."""

    async def latest_turn(self, chat: ChatKey) -> Turn | None:
        """The chat's most recent turn."""

    async def linked_message_ids(self, chat: ChatKey, prefix: str = "") -> list[str]:
        """Ids of the messages in `chat` that show turns and start with `prefix`."""

    async def locale(self, chat: ChatKey, author: Author) -> str | None:
        """The language to answer `author` in, in `chat`."""

    async def usage_text(self, chat: ChatKey, author: Author) -> str:
        """The /usage answer."""

    async def info_text(self, chat: ChatKey, author: Author, reply_to: str | None) -> str:
        """The /info answer: how the replied-to result (else the chat's latest) was made."""

    async def history(
        self,
        chat: ChatKey,
        author: Author,
        reply_to: str | None,
        *,
        latest: bool,
        drawing: Callable[[], Awaitable[None]] | None = None,
    ) -> Card:
        """The /history answer: a storyboard of the replied-to result's path (with no reply
        and `latest`, the chat's latest result's), or a sentence saying why not.

        `drawing` is awaited just before the (slow) drawing starts.
        """

    async def save_reference(
        self,
        chat: ChatKey,
        author: Author,
        name: str,
        prompt: str,
        images: Sequence[ImageSource] = (),
        reply_to: str | None = None,
        reply_images: Sequence[ImageSource] = (),
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """/ref save: keep `images` (or the replied-to message's picture) and/or the style
        `prompt` as #name, in the chat or (`private`) as the author's own; the answer.

        `chat_admin` asks the platform whether the author administers the chat (to replace
        someone else's reference), only when needed.
        """

    async def delete_reference(
        self,
        chat: ChatKey,
        author: Author,
        name: str,
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """/ref delete: delete #name here (owner, chat admin or bot admin); the answer."""

    async def reference_sheet(self, chat: ChatKey, author: Author, *, private: bool) -> Card:
        """/ref: one contact-sheet picture of the references usable here, and the styles.

        The author's own references are shown only when the answer is `private` (a private
        chat, an ephemeral reply): elsewhere everyone would see their pictures.
        """

    async def reference_names(self, chat: ChatKey, author: Author, *, styles: bool) -> list[str]:
        """Reference names usable here (saved first, then styles if asked), for autocomplete."""

    async def forget_card(self, chat: ChatKey, author: Author) -> Card:
        """The /forget confirmation, with the button only its asker may press."""

    def card(self, outcome: Outcome, locale: str | None) -> Card:
        """How an outcome is shown (for adapters that post one outside a step)."""

    async def announce_interrupted(self, platform: str, outbox_for: OutboxFactory) -> int:
        """Tell the authors of steps a crash interrupted, with Retry; return how many."""

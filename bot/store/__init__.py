"""The store port: what the core asks of persistent state, and the rows it hands back.

The core types against `Store` only; the composition root picks an implementation
(`bot.store.sqlite.SqliteStore` today). Every implementation passes the same contract suite,
`tests/test_store_contract.py`. Turns, parts and images are the core's own dataclasses from
`bot.lineage`; the rows only a store produces are defined here.

Rules every method shares:
- Turn, lineage and usage ids MUST never be reused, not even after the rows that had them were
  deleted (by /forget or retention) and the store was reopened: buttons and links carry ids, and
  an old one must name nothing rather than someone else's row. A later turn's id is larger.
- A method that writes MUST have committed when it returns, and MUST be atomic: on an error
  nothing of it stays. Many tasks MAY call any method concurrently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.lineage import ImageRef, Part, Turn, TurnStatus, UsageRecord
from bot.request import ChatKey

if TYPE_CHECKING:
    from bot.coordination import Coordination

__all__ = ["PendingTurn", "Reference", "Store", "UsageRecord", "UsageTotals"]


@dataclass(frozen=True, slots=True)
class PendingTurn:
    """A user turn whose step never finished, and where to tell its author."""

    turn_id: int
    chat: ChatKey
    author_id: str
    locale: str | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class Reference:
    """A named character, product or look, used as #NAME: up to a few images and/or a style
    text. Names compare case-insensitively (`key`)."""

    platform: str
    scope: str  # "chat:<chat id>" (everyone there) or "user:<owner id>" (personal)
    name: str  # as its owner wrote it
    owner_id: str
    images: tuple[ImageRef, ...] = ()
    prompt: str = ""
    created_at: float = 0.0

    @property
    def key(self) -> str:
        """What names are compared by."""
        return self.name.casefold()


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Sums over a period."""

    images: int
    total_tokens: int
    cost_usd: float = 0.0


@runtime_checkable
class Store(Protocol):
    """Lineages of turns, their images, message links, chat settings and the usage ledger."""

    @property
    def coordination(self) -> Coordination:
        """What the instances sharing this store agree through it. A user turn that
        `add_user_turn` stores records `coordination.instance.run` as the run serving it."""

    async def put_image(self, data: bytes, mime_type: str) -> ImageRef:
        """Keep image bytes; return `ImageRef(sha256 hex of data, mime_type, len(data))`.

        Identical bytes MUST be kept once (content-addressed) and give equal refs. An image put
        and not yet in a turn MUST survive `delete_turns` running meanwhile (/forget or
        retention in another chat): the step that put it stores its turn next.
        """

    async def read_image(self, ref: ImageRef) -> bytes:
        """Return the exact bytes `put_image` kept for `ref`.

        MUST raise `FileNotFoundError` for an image that is not kept: never put, or collected
        by `delete_turns`.
        """

    async def ping(self) -> None:
        """Return once the database answered a trivial query; raise when it cannot.

        For health checks: callers bound it with a timeout of their own.
        """

    async def count_images(self) -> int:
        """How many distinct images are kept (for the `images stored` metric)."""

    async def add_user_turn(
        self,
        chat: ChatKey,
        author_id: str,
        parent_id: int | None,
        parts: Sequence[Part],
        *,
        message_ids: Sequence[str] = (),
        status: TurnStatus = TurnStatus.PENDING,
        locale: str | None = None,
    ) -> Turn:
        """Store a user turn, link `message_ids` in `chat` to it, make it the chat's latest.

        `parent_id` None starts a new lineage in `chat`; otherwise the turn joins its parent's
        lineage, and an unknown parent MUST raise `LookupError` with nothing stored.
        add_user_turn MUST commit before returning: the model is called only after, so a crash
        or a model error never loses what the user sent. Concurrent calls MUST each commit
        with an id of their own. The returned turn MUST equal what `get_turn` loads later.
        """

    async def add_model_turn(
        self,
        chat: ChatKey,
        user_turn: Turn,
        model: str,
        parts: Sequence[Part],
        usage: UsageRecord,
        author_id: str,
    ) -> Turn:
        """Store the model's answer to `user_turn`, in one transaction.

        The answer MUST be a child of `user_turn` in its lineage (role model, author "model",
        status ok, `model` named); `user_turn` MUST become answered with its error cleared; the
        answer MUST become the chat's latest; `usage` MUST be recorded for `author_id` in
        `chat` and in `chat.pool`. Either all of it is stored or none.
        """

    async def set_status(self, turn_id: int, status: TurnStatus, error: str | None = None) -> None:
        """Set a turn's status and error (None clears the error); an unknown id is ignored."""

    async def get_turn(self, turn_id: int) -> Turn | None:
        """Load one turn, or None when there is none with this id.

        Parts MUST come back in their order and unchanged: text, image refs (with mime type
        and size), thought flags, and `raw` byte for byte (thought signatures replay from it).
        """

    async def path(self, turn_id: int) -> list[Turn]:
        """The turns from the lineage's root down to `turn_id` inclusive, root first.

        Empty when the turn does not exist. A root is a turn whose parent is None, so after
        `delete_turns` re-rooted a turn the path starts there.
        """

    async def latest_answer(self, user_turn_id: int) -> Turn | None:
        """The model turn answering `user_turn_id` that was added last (rerolls add siblings)."""

    async def lineage_chat(self, turn_id: int) -> tuple[str, str] | None:
        """(platform, chat id) where the turn's lineage started; None for an unknown turn."""

    async def link(self, chat: ChatKey, message_ids: Iterable[str], turn_id: int) -> None:
        """Link posted messages in `chat` to the turn they show.

        A message already linked in `chat` MUST be re-linked to `turn_id`.
        """

    async def resolve_link(self, chat: ChatKey, message_id: str) -> Turn | None:
        """The turn a message shows, or None.

        Links are keyed by (platform, chat id, message id): a message id linked in another chat
        or on another platform MUST NOT resolve, so a reply never reaches a foreign lineage.
        """

    async def message_ids(self, chat: ChatKey, prefix: str = "") -> list[str]:
        """The message ids linked in `chat` that start with `prefix`, in no promised order."""

    async def chat_latest(self, chat: ChatKey) -> Turn | None:
        """The chat's most recent turn: the last one `add_user_turn` or `add_model_turn` made
        latest there. None before any, after `clear_latest`, or once that turn was deleted."""

    async def clear_latest(self, chat: ChatKey) -> None:
        """Forget the chat's latest turn (/new): the next message starts a lineage.

        MUST leave the chat's settings as they are.
        """

    async def pending_turns(self, platform: str) -> list[PendingTurn]:
        """User turns on `platform` still pending (the process died mid-call), oldest first.

        Each names its lineage's chat, its author and locale, and one message linked to it
        (None when none is). Drafts, answered and failed turns are not pending.
        """

    async def chat_settings(self, chat: ChatKey) -> dict[str, str]:
        """The chat's stored choices; empty for a chat that never set one."""

    async def update_chat_settings(self, chat: ChatKey, changes: dict[str, str | None]) -> None:
        """Merge `changes` into the chat's settings: a value sets its key, None clears it.

        Keys not in `changes` MUST stay as they are, and so MUST the chat's latest turn. The
        read and the write MUST be one atomic step, so concurrent changes never lose a key.
        """

    async def usage_since(self, platform: str, user_id: str, since: float) -> UsageTotals:
        """A user's images and total tokens on `platform` recorded at or after `since`.

        Usage MUST outlive the turns it was recorded for: deleting turns refunds no quota.
        """

    async def turn_usage(self, turn_id: int) -> UsageRecord | None:
        """What the model turn `turn_id` cost and how it was asked for; None when unknown."""

    async def pool_usage_since(self, platform: str, pool: str, since: float) -> UsageTotals:
        """A pool's (guild's, else chat's) images and total tokens recorded at or after `since`."""

    async def turns_by_author(self, platform: str, author_id: str) -> list[int]:
        """Ids of the user turns `author_id` wrote on `platform`, and of the answers to them."""

    async def turns_older_than(self, cutoff: float) -> list[int]:
        """Ids of the turns, on every platform, created before `cutoff` (a Unix time)."""

    async def delete_turns(self, turn_ids: Sequence[int]) -> int:
        """Delete turns with their parts and links; return `len(turn_ids)`.

        Others' turns that continued from a deleted one MUST become roots (parent None): they
        keep working from their own parts and never reach the deleted ones again. Images no
        remaining part or reference refers to MUST go (a forgotten user's pictures leave the
        disk); images still used elsewhere MUST stay. Unknown ids are ignored.
        """

    async def save_reference(self, reference: Reference) -> None:
        """Keep `reference`, replacing the one with its platform, scope and key, in one step.

        Its images MUST stay as long as it does, whatever turns are deleted; the images of a
        replaced reference go once nothing uses them. Like `add_user_turn`, it releases the
        hold `put_image` put on its images.
        """

    async def references(self, platform: str, scopes: Sequence[str]) -> list[Reference]:
        """The references in `scopes` on `platform`: scope by scope in the order given, each
        by key. Images in their saved order, unchanged."""

    async def references_by_owner(self, platform: str, owner_id: str) -> list[Reference]:
        """Every reference `owner_id` saved on `platform` (personal and chats'), by scope, key."""

    async def delete_reference(self, platform: str, scope: str, key: str) -> bool:
        """Delete a reference; its images go once nothing uses them. False when none was."""

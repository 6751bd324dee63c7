"""Actions a card offers (Retry, Original, ...): declared once here, rendered by every adapter.

An action has a short wire code, a label in the catalog, who may press it, which outcomes offer
it, and a handler. Adapters never name an action: they render a card's `Button`s generically
(a Telegram inline button, a Discord `DynamicItem`) and hand every press back through
`Engine.press` with a `PressReply` that knows how to answer on their platform.

Payloads are versioned (`bb2:<code>:<arg>`) and fit Telegram's 64-byte `callback_data` and
Discord's 100-character `custom_id`; payloads that earlier versions posted still decode.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot import messages
from bot.outcome import Failure, Outcome, ResultImage, Success
from bot.request import Author, ChatKey

if TYPE_CHECKING:
    from bot.delivery import Outbox
    from bot.engine import Engine

PAYLOAD_VERSION = "bb2"
MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit; Discord allows 100 characters
# Buttons posted before payloads were versioned: Telegram "r:12", Discord "bb:retry:12".
_LEGACY_CODES = {"retry": "r", "original": "o", "forget": "f"}
_LEGACY_PATTERN = re.compile(
    r"(?:(?P<short>[rof]):|bb:(?P<long>retry|original|forget):)(?P<arg>\d+)"
)
_PATTERN = re.compile(rf"{PAYLOAD_VERSION}:(?P<code>[a-z][a-z0-9_]*):(?P<arg>[0-9A-Za-z_-]*)")
# What an adapter matches to recognise any action payload, current or legacy.
PAYLOAD_REGEX = (
    rf"{PAYLOAD_VERSION}:[a-z][a-z0-9_]*:[0-9A-Za-z_-]*|[rof]:\d+|bb:(?:retry|original|forget):\d+"
)


class Audience(enum.StrEnum):
    """Who may press an action."""

    ALLOWED = "allowed"  # anyone the access rules admit in the chat
    OWNER = "owner"  # only the user whose id the payload carries


class Style(enum.StrEnum):
    """How prominent a button is; adapters map it to their platform's styles."""

    NEUTRAL = "neutral"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Press:
    """A decoded button press: which action, with what argument."""

    code: str
    arg: str


@dataclass(frozen=True, slots=True)
class Button:
    """An action as one card shows it: localized label, payload, look."""

    code: str
    label: str
    payload: str
    style: Style
    emoji: str | None


class PressReply(Protocol):
    """How the core answers a press on one platform; one per press."""

    async def acknowledge(self) -> None:
        """Tell the platform the press was seen (Telegram's callback answer, a Discord defer).

        MUST be best effort: a press answered too late still runs its action."""

    async def notify(self, text: str) -> None:
        """Tell only the presser something short (an alert, an ephemeral message)."""

    async def outbox(self) -> Outbox:
        """Where a step the press starts answers (a reply under the result)."""

    async def send_files(self, images: Sequence[ResultImage], caption: str, stem: str) -> None:
        """Send lossless files (documents, attachments) in answer to the press.

        File names start with `stem`; adapters add "-N" for several and the image's extension.
        """

    async def replace(self, text: str) -> None:
        """Replace the message that carries the button with `text`, without buttons."""

    async def choose(self, prompt: str, options: Sequence[Button]) -> None:
        """Offer the presser a choice under the pressed message: each option is a button whose
        press runs its payload (Telegram: more rows of buttons; Discord: a select menu)."""

    async def presser_is_chat_admin(self) -> bool:
        """Whether the presser administers this chat (the platform's notion; may cost a call)."""

    async def finish(self) -> None:
        """Called once when the action is over, however it ended.

        MUST stop the platform's "working" indicator if nothing answered the press yet and
        release whatever the press held (chat actions, ...). MUST NOT raise."""


@dataclass(frozen=True, slots=True)
class PressContext:
    """Who pressed, where, in which language, and how to answer."""

    chat: ChatKey
    author: Author
    locale: str | None
    reply: PressReply


Handler = Callable[["Engine", PressContext, str], Awaitable[None]]
Offer = Callable[[Outcome], str | None]  # the payload argument when an outcome offers it


@dataclass(frozen=True, slots=True)
class Action:
    """One kind of button, declared once."""

    name: str
    code: str
    label_key: str
    handler: Handler
    audience: Audience = Audience.ALLOWED
    style: Style = Style.NEUTRAL
    emoji: str | None = None
    offer: Offer | None = None  # None: only shown where the core builds it explicitly
    catalog: messages.Catalog = messages.CORE  # where `label_key` is found


def pack(code: str, arg: str | int) -> str:
    """The payload for a press of action `code` with `arg`."""
    payload = f"{PAYLOAD_VERSION}:{code}:{arg}"
    if not _PATTERN.fullmatch(payload) or len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload {payload!r} is not a valid action payload")
    return payload


def unpack(payload: str) -> Press | None:
    """Decode a payload of this or an earlier version; None when it is not ours."""
    if match := _PATTERN.fullmatch(payload):
        return Press(match["code"], match["arg"])
    if match := _LEGACY_PATTERN.fullmatch(payload):
        code = match["short"] or _LEGACY_CODES[match["long"]]
        return Press(code, match["arg"])
    return None


class ActionRegistry:
    """The actions this bot offers, by wire code."""

    def __init__(self, actions: Sequence[Action] = ()) -> None:
        self._by_code: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        """Add an action; its code must be new (a code is a contract with posted buttons)."""
        if action.code in self._by_code:
            raise ValueError(f"action code {action.code!r} is taken")
        self._by_code[action.code] = action

    def __iter__(self) -> Iterator[Action]:
        return iter(self._by_code.values())

    def find(self, press: Press) -> Action | None:
        """The action a press names, if this bot still offers it."""
        return self._by_code.get(press.code)

    def button(self, action: Action, arg: str | int, locale: str | None) -> Button:
        """`action` as a button carrying `arg`, labelled in the user's language."""
        label = action.catalog.text(action.label_key, locale)
        return Button(action.code, label, pack(action.code, arg), action.style, action.emoji)

    def offered(self, outcome: Outcome, locale: str | None) -> tuple[Button, ...]:
        """The buttons a card for `outcome` carries, in declaration order."""
        buttons = []
        for action in self:
            arg = action.offer(outcome) if action.offer is not None else None
            if arg is not None:
                buttons.append(self.button(action, arg, locale))
        return tuple(buttons)


def offer_retry(outcome: Outcome) -> str | None:
    """Retry: every result, and every failure that another attempt may fix."""
    if isinstance(outcome, Success):
        return str(outcome.model_turn_id)
    if isinstance(outcome, Failure) and outcome.retryable and outcome.user_turn_id is not None:
        return str(outcome.user_turn_id)
    return None


def offer_images(outcome: Outcome) -> str | None:
    """Every result that has images, Variations included."""
    if isinstance(outcome, Success) and outcome.images:
        return str(outcome.model_turn_id)
    return None


def offer_original(outcome: Outcome) -> str | None:
    """Original and the other actions on one picture: results that have images, but not
    Variations (there, people reply to the one they mean)."""
    if isinstance(outcome, Success) and not outcome.variants:
        return offer_images(outcome)
    return None


def turn_of(arg: str) -> int | None:
    """The turn id a payload argument carries; None when this version cannot read it."""
    return int(arg) if arg.isdigit() else None

"""What adapters hand to the engine: small frozen dataclasses, no platform objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ChatKey:
    """Where a conversation happens; links are scoped by it."""

    platform: str  # "telegram" | "discord" | "console"
    chat_id: str
    thread_id: str | None = None  # forum topic / Discord thread; informational, not a scope
    guild_id: str | None = None  # Discord server: access lists and the daily pool use it
    parent_id: str | None = None  # a thread's channel, whose settings the thread uses

    @property
    def settings_scope(self) -> ChatKey:
        """Where this chat's settings live: its channel's for a thread, else its own."""
        if self.parent_id is None:
            return self
        return ChatKey(self.platform, self.parent_id, guild_id=self.guild_id)

    @property
    def pool(self) -> str:
        """Whose daily image pool a request draws from: the guild's, else the chat's."""
        return self.guild_id or self.chat_id


@dataclass(frozen=True, slots=True)
class Author:
    """Who sent a message."""

    user_id: str
    display_name: str = ""
    locale: str | None = None  # platform language code ("en", "zh-hans", "zh-CN" ...)
    roles: tuple[str, ...] = ()  # Discord role ids, for role allow/block lists


@dataclass(frozen=True, slots=True)
class ImageSource:
    """An attached image that is fetched only after access checks pass."""

    fetch: Callable[[], Awaitable[bytes]]
    declared_size: int | None = None  # what the platform says, checked before fetching
    mime_type: str | None = None
    name: str = ""
    # The platform produced these bytes itself and they arrived whole (a Telegram photo):
    # headers are still checked, the full decode is skipped.
    trusted: bool = False
    # A still frame standing in for an animation the platform converted (Telegram's GIFs).
    still_of_animation: bool = False

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str | None = None, name: str = "") -> ImageSource:
        """Wrap bytes that are already in memory (console, tests)."""

        async def fetch() -> bytes:
            return data

        return cls(fetch, len(data), mime_type, name)


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Per-request choices; None falls back to chat settings, then the model's default."""

    aspect_ratio: str | None = None
    image_size: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class EditRequest:
    """One user message that asks for an image.

    `reply_to` is the platform id of the message the user replied to (in the same chat), and
    `reply_images` that message's pictures, fetched only if it shows no turn (the engine
    decides). `continue_latest` asks to continue from the chat's latest result when there is
    no reply and no picture (private chats, like the Gemini app). `images` keep the user's
    order and come before `text`.
    """

    chat: ChatKey
    author: Author
    message_id: str
    text: str
    images: tuple[ImageSource, ...] = ()
    reply_to: str | None = None
    continue_latest: bool = False
    reply_images: tuple[ImageSource, ...] = ()
    # The user asked to edit (Telegram's /edit): with no picture and no result to continue,
    # the step is refused instead of drawing something new from the words.
    requires_image: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)
    # Other messages that carry this turn (the rest of an album); replies to them continue too.
    linked_message_ids: tuple[str, ...] = ()
    # References picked outside the text (Discord's `reference` option), used like #NAME.
    references: tuple[str, ...] = ()

    @property
    def message_ids(self) -> tuple[str, ...]:
        """Every message that shows this turn."""
        return (self.message_id, *self.linked_message_ids)

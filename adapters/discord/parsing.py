"""Read Discord messages and channels into core terms, without any I/O.

A message is for the bot when it replies to something, mentions the bot or arrives in a DM;
everything else is dropped here, before a lookup or a download happens. Whether a reply
continues a lineage needs the store (`Engine.is_linked`), so that part is decided by
`plan_message` once the caller knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

import discord

from bot.request import Author, ChatKey, ImageSource

PLATFORM = "discord"
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff"}
)
THREAD_NAME_CHARS = 60  # Discord allows 100; a short excerpt reads better in the channel list
DEFAULT_THREAD_NAME = "Image edit"
_ACTIONABLE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def is_image(attachment: discord.Attachment) -> bool:
    """Whether an attachment is an image, by content type or, when that is vague, by name."""
    content_type = (attachment.content_type or "").partition(";")[0].strip().lower()
    if content_type.startswith("image/"):
        return True
    if content_type and content_type != "application/octet-stream":
        return False
    return PurePosixPath(attachment.filename).suffix.lower() in IMAGE_EXTENSIONS


def attachments_of(message: discord.Message) -> tuple[discord.Attachment, ...]:
    """The message's files, then those of the message it forwards (they count the same)."""
    forwarded = (a for snapshot in message.message_snapshots for a in snapshot.attachments)
    return (*message.attachments, *forwarded)


def image_attachments(attachments: Iterable[discord.Attachment]) -> tuple[discord.Attachment, ...]:
    """The image attachments, in the user's order."""
    return tuple(a for a in attachments if is_image(a))


def image_sources(attachments: Iterable[discord.Attachment]) -> tuple[ImageSource, ...]:
    """Lazy image sources: the engine checks `declared_size` and access before downloading."""
    return tuple(
        ImageSource(a.read, declared_size=a.size, mime_type=a.content_type, name=a.filename)
        for a in attachments
    )


def _guild_id(channel: discord.abc.Snowflake, guild_id: int | None) -> str | None:
    guild = getattr(channel, "guild", None)
    if guild_id is None and isinstance(guild, discord.Guild):
        guild_id = guild.id
    return str(guild_id) if guild_id is not None else None


def chat_key(channel: discord.abc.Snowflake, guild_id: int | None = None) -> ChatKey:
    """The chat of a channel; a thread is a chat of its own, so lineages stay in it.

    The guild (when known from `channel` or given) scopes access lists and the daily pool.
    """
    if isinstance(channel, discord.Thread):
        # A thread keeps its own lineages and uses its channel's settings.
        parent = str(channel.parent_id) if channel.parent_id else None
        guild = _guild_id(channel, guild_id)
        return ChatKey(PLATFORM, str(channel.id), str(channel.id), guild, parent_id=parent)
    return ChatKey(PLATFORM, str(channel.id), None, _guild_id(channel, guild_id))


def author_of(user: discord.User | discord.Member, locale: str | None) -> Author:
    """The core's view of a user; server members bring their roles for role access lists."""
    roles = (
        tuple(str(role.id) for role in user.roles if not role.is_default())
        if isinstance(user, discord.Member)
        else ()
    )
    return Author(str(user.id), user.display_name, locale, roles)


def _mention_pattern(bot_id: int) -> re.Pattern[str]:
    return re.compile(rf"<@!?{bot_id}>")


def mentions_bot(content: str, bot_id: int) -> bool:
    """Whether the text itself mentions the bot (a reply ping alone does not count)."""
    return _mention_pattern(bot_id).search(content) is not None


def without_bot_mention(content: str, bot_id: int) -> str:
    """The instruction, with the bot's mention removed."""
    return _mention_pattern(bot_id).sub("", content).strip()


def thread_name(prompt: str) -> str:
    """A thread name from the prompt's first words."""
    words = " ".join(prompt.split())
    if len(words) > THREAD_NAME_CHARS:
        words = words[: THREAD_NAME_CHARS - 1].rstrip() + "…"
    return words or DEFAULT_THREAD_NAME


@dataclass(frozen=True, slots=True)
class Incoming:
    """What a message may ask of the bot, read from the message alone."""

    text: str
    images: tuple[discord.Attachment, ...]
    reference_id: int | None  # the message it replies to
    mentioned: bool  # the text mentions the bot
    direct: bool  # a DM
    own_thread: bool  # posted in a thread the bot created (auto_thread)
    other_files: tuple[discord.Attachment, ...] = ()  # attachments that are no pictures


@dataclass(frozen=True, slots=True)
class Plan:
    """How a message becomes a request; what it continues is the engine's decision."""

    reply_to: str | None  # the replied message, linked or not
    continue_latest: bool
    borrow_images: bool  # hand over the replied message's pictures (it shows no turn)
    refuse_files: bool = False  # it carries files that are no pictures: say so, do nothing
    linked: bool = False  # the replied message shows a turn: the reply continues it

    @property
    def new_lineage(self) -> bool:
        return not self.linked and not self.continue_latest


def read_message(message: discord.Message, bot_id: int) -> Incoming | None:
    """Read a message addressed to the bot; None for anything the bot must ignore unread."""
    if message.author.bot or message.webhook_id is not None:
        return None
    if message.type not in _ACTIONABLE_TYPES:
        return None
    ref = message.reference
    reference_id = (
        ref.message_id
        if ref is not None and ref.type is discord.MessageReferenceType.reply
        else None
    )
    direct = message.guild is None
    mentioned = mentions_bot(message.content, bot_id)
    if reference_id is None and not mentioned and not direct:
        return None
    text = without_bot_mention(message.content, bot_id)
    files = attachments_of(message)
    images = image_attachments(files)
    if not text and not files and not (mentioned and reference_id is not None):
        # Nothing to act on: a sticker, or content hidden by the missing Message Content intent
        # (a reply with its ping turned off looks empty then).
        return None
    channel = message.channel
    return Incoming(
        text=text,
        images=images,
        reference_id=reference_id,
        mentioned=mentioned,
        direct=direct,
        own_thread=isinstance(channel, discord.Thread) and channel.owner_id == bot_id,
        other_files=tuple(a for a in files if not is_image(a)),
    )


def plan_message(incoming: Incoming, reference_linked: bool) -> Plan | None:
    """Decide what a message asks for; None when it is not for the bot after all."""
    linked = incoming.reference_id is not None and reference_linked
    if not linked and not (incoming.direct or incoming.mentioned):
        return None  # a reply to something that is not ours, without asking the bot
    if incoming.other_files:
        # Like /edit: a PDF or a RAW file is refused, never read as "draw something new".
        return Plan(None, continue_latest=False, borrow_images=False, refuse_files=True)
    if linked:
        # A reply to a result (or an answered picture) continues exactly from it.
        return Plan(str(incoming.reference_id), False, borrow_images=False, linked=True)
    if incoming.reference_id is not None:
        # "@bot make it blue" on someone's photo: that photo, then any of the user's own.
        return Plan(str(incoming.reference_id), continue_latest=False, borrow_images=True)
    if incoming.images:
        return Plan(None, continue_latest=False, borrow_images=False)
    # Plain text: in a DM or in the bot's own thread it continues the latest result, like the
    # Gemini app; elsewhere it asks for a new image from the description.
    return Plan(None, continue_latest=incoming.direct or incoming.own_thread, borrow_images=False)

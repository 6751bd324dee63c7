"""Read a Telegram message into what the user asks for. Pure: no I/O, never raises.

Private chats: a photo with a caption edits it, a photo alone waits for an instruction, plain
text continues from the chat's latest result. Groups: only `/edit`, `/imagine`, `@bot ...` and
replies to the bot's own messages are for us; everything else is ignored before any download.
A GIF arrives as an MP4 `animation`: its still frame (Telegram's thumbnail) stands in for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from telegram import Animation, Document, Message, MessageEntity
from telegram.constants import ChatType

# In the order the command menu shows them.
COMMAND_NAMES = (
    "start",
    "help",
    "edit",
    "imagine",
    "new",
    "settings",
    "usage",
    "info",
    "history",
    "ref",
    "forget",
)
COMMANDS = frozenset(COMMAND_NAMES)


class Action(enum.StrEnum):
    EDIT = "edit"
    IMAGINE = "imagine"
    NEW = "new"
    START = "start"
    HELP = "help"
    SETTINGS = "settings"
    USAGE = "usage"
    FORGET = "forget"
    INFO = "info"  # how the replied-to result was made
    HISTORY = "history"  # the storyboard of the replied-to result's path
    REF = "ref"  # list, save (a caption, a reply) or delete named references
    NOT_AN_IMAGE = "not_an_image"  # a file that is not a picture, sent to us directly
    NO_STILL = "no_still"  # a GIF (an animation) without a still frame to edit
    IGNORE = "ignore"


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class TelegramImage:
    """A picture Telegram holds for us, not yet downloaded."""

    file_id: str
    file_size: int | None
    mime_type: str | None
    encoded_by_telegram: bool = False  # a `photo`: Telegram re-encoded it, it is a valid JPEG
    still_of_animation: bool = False  # stands in for a GIF, which Telegram made an MP4


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one message asks for."""

    action: Action
    text: str = ""
    images: tuple[TelegramImage, ...] = ()
    reply_id: int | None = None  # the message replied to (a real reply, not a topic root)
    reply_images: tuple[TelegramImage, ...] = ()
    reply_is_bot: bool = False
    continue_latest: bool = False


IGNORED = Parsed(Action.IGNORE)


def images_of(message: Message) -> tuple[TelegramImage, ...]:
    """The picture a message carries: the largest photo size, an image document, a GIF's still."""
    if message.animation is not None:
        return _still_of(message.animation, message.document)
    if message.photo:
        largest = message.photo[-1]
        return (TelegramImage(largest.file_id, largest.file_size, "image/jpeg", True),)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return (TelegramImage(document.file_id, document.file_size, document.mime_type),)
    return ()


def _still_of(animation: Animation, document: Document | None) -> tuple[TelegramImage, ...]:
    """The largest thumbnail Telegram made of an animation: a JPEG still frame, if any."""
    thumbnails = [
        t for t in (animation.thumbnail, document.thumbnail if document else None) if t is not None
    ]
    if not thumbnails:
        return ()
    still = max(thumbnails, key=lambda t: t.width * t.height)
    return (TelegramImage(still.file_id, still.file_size, "image/jpeg", True, True),)


def _without_still(message: Message | None) -> bool:
    """Whether `message` is an animation we have no still frame of."""
    return message is not None and message.animation is not None and not images_of(message)


def _real_reply(message: Message) -> Message | None:
    """The replied-to message, unless it is only the root of the forum topic."""
    reply = message.reply_to_message
    if reply is None or reply.forum_topic_created is not None:
        return None
    if message.is_topic_message and reply.message_id == message.message_thread_id:
        return None
    return reply


def _command(text: str, entities: tuple[MessageEntity, ...], username: str) -> tuple[str, str]:
    """("edit", rest) for "/edit@bot rest"; ("", text) when there is no command for us."""
    for entity in entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            before, command, after = _split16(text, 0, entity.length)
            name, _, target = command[1:].partition("@")
            if target and target.lower() != username.lower():
                return "-", text  # addressed to another bot
            return name.lower(), (before + after).strip()
    return "", text


def _strip_mention(
    text: str, entities: tuple[MessageEntity, ...], username: str, bot_id: int
) -> tuple[bool, str]:
    """Whether the bot is mentioned, and the text without the mention."""
    handle = f"@{username}".lower()
    for entity in entities:
        before, span, after = _split16(text, entity.offset, entity.length)
        mentioned = (entity.type == MessageEntity.MENTION and span.lower() == handle) or (
            entity.type == MessageEntity.TEXT_MENTION
            and entity.user is not None
            and entity.user.id == bot_id
        )
        if mentioned:
            return True, " ".join((before + after).split())
    return False, text


def parse_message(message: Message, bot_id: int, username: str) -> Parsed:
    """Decide what `message` asks of the bot."""
    if message.from_user is None or message.from_user.is_bot:
        return IGNORED
    text = message.text or message.caption or ""
    raw_entities = message.entities if message.text else message.caption_entities
    length16 = utf16_len(text)
    entities = tuple(
        e for e in raw_entities or () if e.offset >= 0 and e.offset + e.length <= length16
    )
    images = images_of(message)
    reply = _real_reply(message)
    edit = Parsed(
        Action.EDIT,
        reply_id=reply.message_id if reply else None,
        reply_images=images_of(reply) if reply else (),
        reply_is_bot=bool(reply and reply.from_user and reply.from_user.id == bot_id),
    )
    private = message.chat.type == ChatType.PRIVATE

    name, rest = _command(text, entities, username)
    if name == "-":
        return IGNORED
    if name:
        if name not in COMMANDS:
            return IGNORED
        action = Action(name)
        if action is Action.IMAGINE:
            return Parsed(action, rest)
        if action in (Action.INFO, Action.HISTORY):
            return Parsed(action, reply_id=edit.reply_id)
        if action is Action.REF:
            if message.document is not None and not images:
                return Parsed(Action.NOT_AN_IMAGE)  # "/ref save x" on a PDF: say so
            return replace(edit, action=action, text=rest, images=images)
        if action is Action.EDIT:
            if not (images or edit.reply_images) and (
                _without_still(message) or _without_still(reply)
            ):
                return Parsed(Action.NO_STILL)
            continue_latest = private and not images and reply is None
            return replace(edit, text=rest, images=images, continue_latest=continue_latest)
        return Parsed(action, rest)

    if private:
        if _without_still(message):
            return Parsed(Action.NO_STILL)
        if message.document is not None and not images:
            return Parsed(Action.NOT_AN_IMAGE)
        if not images and not text.strip():
            return IGNORED  # stickers, voice, service messages
        continue_latest = not images and reply is None
        return replace(edit, text=text.strip(), images=images, continue_latest=continue_latest)

    mentioned, text = _strip_mention(text, entities, username, bot_id)
    if not mentioned and not edit.reply_is_bot:
        return IGNORED
    if _without_still(message):
        return Parsed(Action.NO_STILL)
    if not images and not text.strip() and not edit.reply_images:
        return IGNORED
    if mentioned and not images and reply is None:
        return Parsed(Action.IMAGINE, text.strip())  # "@bot a red fox": nothing to edit, draw it
    return replace(edit, text=text.strip(), images=images)


def _split16(text: str, offset: int, length: int) -> tuple[str, str, str]:
    """Cut `text` around an entity; Telegram counts offsets in UTF-16 code units."""
    units = text.encode("utf-16-le")
    start, end = offset * 2, (offset + length) * 2

    def decode(chunk: bytes) -> str:
        # A malformed offset may split a surrogate pair: replace it rather than fail.
        return chunk.decode("utf-16-le", errors="replace")

    return decode(units[:start]), decode(units[start:end]), decode(units[end:])

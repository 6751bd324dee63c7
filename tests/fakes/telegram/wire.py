"""Bot API wire facts the fake follows: limits, parameter encoding, error texts, entities."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]

FILESIZE_DOWNLOAD = 20 * 1024 * 1024  # getFile limit of the cloud Bot API
FILESIZE_UPLOAD = 50 * 1024 * 1024
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
FORUM_ICON_COLOR = 7322096

# Parameters whose value is a plain string on the wire. Everything else is JSON-decoded when it
# parses as JSON (ints, bools, objects, lists), exactly as PTB's ``RequestParameter.json_value``
# encodes it.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "action",
        "callback_query_id",
        "url",
        "secret_token",
        "ip_address",
        "file_id",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "title",
        "name",
        "description",
        "short_description",
        "photo",
        "document",
        "thumbnail",
        "custom_title",
    }
)


CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


# Update types delivered when allowed_updates is [] or was never given.
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


CONFLICT_GETUPDATES = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


COMMAND_RE = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
MENTION_RE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}(?!\w)")
BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """Raised inside the fake's method implementations; becomes a Bot API error response."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        """The Bot API error body."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class ScriptedError:
    """How ``fail_next`` answers: an error body, or a dropped connection."""

    status: int
    description: str
    retry_after: int | None
    disconnect: bool


def bad_request(message: str) -> ApiError:
    """A 400 with Telegram's "Bad Request: ..." description."""
    return ApiError(400, f"Bad Request: {message}")


def u16(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def now() -> int:
    """Unix time in seconds, as Bot API dates are."""
    return int(time.time())


def auto_entities(text: str) -> list[JSONDict]:
    """``bot_command`` and ``mention`` entities as Telegram detects them (UTF-16 offsets).

    Any @name is marked; privacy mode decides who receives the message.
    """
    found: list[JSONDict] = []
    for match in COMMAND_RE.finditer(text):
        found.append(
            {
                "type": "bot_command",
                "offset": u16(text[: match.start()]),
                "length": u16(match.group()),
            }
        )
    for match in MENTION_RE.finditer(text):
        found.append(
            {
                "type": "mention",
                "offset": u16(text[: match.start()]),
                "length": u16(match.group()),
            }
        )
    found.sort(key=lambda e: e["offset"])
    return found


def maybe_json(value: str) -> Any:
    """A form value JSON-decoded when it is JSON (PTB encodes non-strings so), else as is."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def as_int(value: Any) -> int | None:
    """An id parameter as an int (None when absent or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None

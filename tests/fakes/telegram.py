"""A loopback fake of the Telegram Bot API that the real python-telegram-bot talks to.

Start it with ``async with TelegramFake() as tg:`` and point PTB at it::

    app = (
        Application.builder()
        .token(tg.token)
        .base_url(tg.api_base_url)
        .base_file_url(tg.file_base_url)
        .build()
    )

Wire format (what PTB 22 sends and Telegram answers):

* every method is ``POST /bot<token>/<method>``; the body is
  ``application/x-www-form-urlencoded`` or, with uploads, ``multipart/form-data`` whose file part
  is named after the parameter (``photo``, ``document``) or, for ``sendMediaGroup``, after the
  ``attach://<name>`` reference in the ``media`` JSON. Non-string values are JSON-encoded strings
  (``chat_id='42'``, ``reply_parameters='{"message_id": 7}'``).
* replies are ``{"ok": true, "result": ...}``; errors are
  ``{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": N}}``.

Test helpers build incoming updates the way Telegram does (photos as three ``PhotoSize`` entries,
``bot_command``/``mention`` entities, one-level ``reply_to_message``, forum topics whose plain
messages reply to the ``forum_topic_created`` service message, albums as separate updates sharing a
``media_group_id``, privacy mode in groups) and queue them for ``getUpdates`` long polling or
webhook delivery. Every API call is recorded in ``tg.calls``; ``wait_for``/``wait_for_call`` are
bounded waits that re-check on every state change (no sleeps needed in tests).

Deliberate simplifications: the largest ``PhotoSize`` keeps the uploaded bytes unchanged (the real
server re-encodes to JPEG, at most 1280/2560 px), the two smaller sizes are real JPEG thumbnails;
``sendPhoto``/``sendDocument`` accept uploads and file ids but not HTTP URLs (no network).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import ClientSession, ClientTimeout, web
from PIL import Image

from tests.fakes.loopback import serve

__all__ = [
    "Call",
    "Download",
    "FakeChat",
    "FakeUser",
    "StoredFile",
    "TelegramFake",
    "WebhookDelivery",
]

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

# The start of an MP4 ("ftyp" box): what Telegram stores for a GIF. Nobody should decode it.
_FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"

_COMMAND_RE = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_MENTION_RE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}(?!\w)")
_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def _u16(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeUser:
    """A Telegram user as the tests see it. ``to_dict()`` is the Bot API ``User`` object."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"
    last_name: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        if self.language_code is not None and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True)
class FakeChat:
    """A chat. ``to_dict()`` is the Bot API ``Chat`` object embedded in messages."""

    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False

    def to_dict(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class Call:
    """One recorded Bot API request.

    ``params`` are JSON-decoded where the wire value is JSON (ints, bools, objects), ``files``
    are the multipart file parts by part name and ``file_meta`` their ``(filename, content_type)``.
    ``status``/``response`` are filled in when the fake answers (``None`` while a long poll is
    pending); ``response`` is the ``result`` on success and the error body otherwise.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    time: float
    file_meta: dict[str, tuple[str, str]] = field(default_factory=dict)
    status: int | None = None
    response: Any = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def upload(self, name: str | None = None) -> bytes:
        """Bytes of the uploaded part ``name`` (default: the only part)."""
        if name is None:
            if len(self.files) != 1:
                raise KeyError(f"{self.method} has {len(self.files)} file parts, name one")
            return next(iter(self.files.values()))
        return self.files[name]

    def media_bytes(self) -> list[bytes | str]:
        """For sendMediaGroup: the uploaded bytes of each ``media`` item in order (a plain string
        file id / URL is returned as is)."""
        result: list[bytes | str] = []
        for item in self.params.get("media", []):
            ref = item.get("media", "")
            if isinstance(ref, str) and ref.startswith("attach://"):
                result.append(self.files[ref.removeprefix("attach://")])
            else:
                result.append(ref)
        return result


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_path: str


@dataclass(frozen=True)
class Download:
    file_path: str
    file_id: str
    time: float


@dataclass(frozen=True)
class WebhookDelivery:
    update_id: int
    status: int | None  # None: connection failed
    error: str | None
    time: float


class ApiError(Exception):
    """Raised inside the fake's method implementations; becomes a Bot API error response."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(message: str) -> ApiError:
    return ApiError(400, f"Bad Request: {message}")


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    disconnect: bool
    chat_id: int | None


class _Notifier:
    """A condition variable without a lock: ``notify()`` is synchronous, so plain (non-async) test
    helpers such as ``send_user_message`` can wake long polls and ``wait_for`` callers."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait(self, seconds: float) -> None:
        """Wait for the next ``notify()`` or ``seconds``, whichever comes first."""
        if seconds <= 0:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            async with asyncio.timeout(seconds):
                await fut
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(fut)

    async def wait_until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return predicate()
            await self.wait(remaining)
        return True


# --------------------------------------------------------------------------------------------
# parse_mode handling (HTML, MarkdownV2, Markdown) -> (plain text, entities), with the error
# messages of the real server (tdlib's parse_html / parse_markdown_v2 / parse_markdown).
# --------------------------------------------------------------------------------------------


class _EntityParseError(Exception):
    pass


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_html_entity(text: str, i: int) -> tuple[str, int]:
    """Decode ``&...;`` at ``text[i]``; returns (decoded, new index). Unknown ones stay literal."""
    end = text.find(";", i + 1, i + 12)
    if end != -1:
        name = text[i + 1 : end]
        if name in _HTML_ENTITIES:
            return _HTML_ENTITIES[name], end + 1
        if name.startswith("#"):
            with contextlib.suppress(ValueError, OverflowError):
                code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
                return chr(code), end + 1
    return "&", i + 1


def _parse_html(text: str) -> tuple[str, list[JSONDict]]:
    out: list[str] = []
    out_len = 0  # in UTF-16 units
    entities: list[JSONDict] = []
    stack: list[tuple[str, JSONDict]] = []  # (tag name, entity under construction)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            decoded, i = _decode_html_entity(text, i)
            out.append(decoded)
            out_len += _u16(decoded)
            continue
        if ch != "<":
            out.append(ch)
            out_len += _u16(ch)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            end = text.find(">", i)
            if end == -1:
                raise _EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, begin)}"
                )
            name = text[i + 1 : end].strip().lower()
            if not stack:
                raise _EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            open_name, closed = stack.pop()
            if name != open_name:
                raise _EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            closed["length"] = out_len - closed["offset"]
            if closed["length"] > 0 and closed["type"] != "_skip":
                entities.append(closed)
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise _EntityParseError(
                f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
            )
        name = text[i:j].lower()
        if name not in _HTML_TAGS:
            raise _EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        attrs: dict[str, str] = {}
        i = j
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise _EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[i] == ">":
                i += 1
                break
            k = i
            while k < n and text[k] not in "= \t\n>":
                k += 1
            attr = text[i:k].lower()
            if not attr:
                raise _EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            i = k
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] == "=":
                i += 1
                while i < n and text[i].isspace():
                    i += 1
                if i < n and text[i] in "'\"":
                    quote = text[i]
                    close = text.find(quote, i + 1)
                    if close == -1:
                        raise _EntityParseError(
                            f'Unclosed start tag "{name}" at byte offset '
                            f"{_byte_offset(text, begin)}"
                        )
                    raw_value, i = text[i + 1 : close], close + 1
                else:
                    k = i
                    while k < n and not text[k].isspace() and text[k] != ">":
                        k += 1
                    raw_value, i = text[i:k], k
                value = ""
                p = 0
                while p < len(raw_value):
                    if raw_value[p] == "&":
                        decoded, p = _decode_html_entity(raw_value, p)
                        value += decoded
                    else:
                        value += raw_value[p]
                        p += 1
                attrs[attr] = value
            else:
                attrs[attr] = ""
        entity: JSONDict = {"type": _HTML_TAGS[name], "offset": out_len}
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        if name == "a":
            url = attrs.get("href", "")
            if url.startswith("tg://user?id="):
                entity = {
                    "type": "text_mention",
                    "offset": out_len,
                    "user": {
                        "id": int(url.split("=", 1)[1] or 0),
                        "is_bot": False,
                        "first_name": "",
                    },
                }
            elif url:
                entity["url"] = url
            else:
                entity["type"] = "_skip"
        elif name == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id", "")
        elif name == "blockquote" and "expandable" in attrs:
            entity["type"] = "expandable_blockquote"
        elif name == "code" and stack and stack[-1][0] == "pre":
            language = attrs.get("class", "")
            if language.startswith("language-"):
                stack[-1][1]["language"] = language.removeprefix("language-")
                entity["type"] = "_skip"
        stack.append((name, entity))
    if stack:
        raise _EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "code": "Code",
    "pre": "Pre",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    out: list[str] = []
    out_len = 0
    entities: list[JSONDict] = []
    stack: list[tuple[str, int, int]] = []  # (type, output offset, input index)
    i, n = 0, len(text)

    def emit(s: str) -> None:
        nonlocal out_len
        out.append(s)
        out_len += _u16(s)

    def close(kind: str) -> None:
        _, start, _ = stack.pop()
        if out_len > start:
            entities.append({"type": kind, "offset": start, "length": out_len - start})

    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            emit(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = text.startswith("```", i)
            marker = "```" if fence else "`"
            j = i + len(marker)
            language = None
            if fence:
                line_end = text.find("\n", j)
                if line_end != -1 and text.find("```", j) > line_end:
                    language = text[j:line_end] or None
                    j = line_end + 1
            start = out_len
            while j < n and not text.startswith(marker, j):
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                emit(text[j])
                j += 1
            if j >= n:
                kind = "Pre" if fence else "Code"
                raise _EntityParseError(
                    f"Can't find end of {kind} entity at byte offset {_byte_offset(text, i)}"
                )
            if out_len > start:
                entity: JSONDict = {
                    "type": "pre" if fence else "code",
                    "offset": start,
                    "length": out_len - start,
                }
                if language:
                    entity["language"] = language
                entities.append(entity)
            i = j + len(marker)
            continue
        if ch == "[" or (ch == "!" and text.startswith("![", i)):
            kind = "custom_emoji" if ch == "!" else "text_link"
            stack.append((kind, out_len, i))
            i += 2 if ch == "!" else 1
            continue
        if ch == "]" and stack and stack[-1][0] in ("text_link", "custom_emoji"):
            kind, start, origin = stack.pop()
            if not text.startswith("(", i + 1):
                raise _EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset "
                    f"{_byte_offset(text, origin)}"
                )
            j = i + 2
            url = ""
            while j < n and text[j] != ")":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                url += text[j]
                j += 1
            if j >= n:
                raise _EntityParseError(
                    f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}"
                )
            if out_len > start:
                entity = {"type": kind, "offset": start, "length": out_len - start}
                if kind == "text_link":
                    entity["url"] = url
                else:
                    entity["custom_emoji_id"] = url.rsplit("=", 1)[-1]
                entities.append(entity)
            i = j + 1
            continue
        if ch in "*_~|":
            if ch == "_" and text.startswith("__", i):
                kind, width = "underline", 2
            elif ch == "|":
                if not text.startswith("||", i):
                    raise _EntityParseError(
                        "Character '|' is reserved and must be escaped with the preceding '\\'"
                    )
                kind, width = "spoiler", 2
            else:
                kind, width = {"*": "bold", "_": "italic", "~": "strikethrough"}[ch], 1
            if stack and stack[-1][0] == kind:
                close(kind)
            else:
                stack.append((kind, out_len, i))
            i += width
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            line_end = text.find("\n", i)
            line_end = n if line_end == -1 else line_end
            stack.append(("blockquote", out_len, i))
            i += 1
            # The quote covers this line; nested markup inside is parsed normally.
            inner, inner_entities = _parse_markdown_v2(text[i:line_end])
            for ent in inner_entities:
                ent["offset"] += out_len
                entities.append(ent)
            emit(inner)
            close("blockquote")
            i = line_end
            continue
        if ch in _MDV2_RESERVED:
            raise _EntityParseError(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        emit(ch)
        i += 1
    if stack:
        kind, _, origin = stack[-1]
        raise _EntityParseError(
            f"Can't find end of {_MDV2_NAMES.get(kind, kind)} entity at byte offset "
            f"{_byte_offset(text, origin)}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_markdown_legacy(text: str) -> tuple[str, list[JSONDict]]:
    out: list[str] = []
    out_len = 0
    entities: list[JSONDict] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            out_len += 1
            i += 2
            continue
        if ch not in "_*`[":
            out.append(ch)
            out_len += _u16(ch)
            i += 1
            continue
        begin = i
        if ch == "[":
            close = text.find("]", i + 1)
            if close == -1 or not text.startswith("(", close + 1) or text.find(")", close) == -1:
                raise _EntityParseError(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, begin)}"
                )
            inner = text[i + 1 : close]
            url_end = text.find(")", close)
            entities.append(
                {
                    "type": "text_link",
                    "offset": out_len,
                    "length": _u16(inner),
                    "url": text[close + 2 : url_end],
                }
            )
            out.append(inner)
            out_len += _u16(inner)
            i = url_end + 1
            continue
        marker = "```" if text.startswith("```", i) else ch
        close = text.find(marker, i + len(marker))
        if close == -1:
            raise _EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        inner = text[i + len(marker) : close]
        kind = {"_": "italic", "*": "bold", "`": "code", "```": "pre"}[marker]
        if inner:
            entities.append({"type": kind, "offset": out_len, "length": _u16(inner)})
        out.append(inner)
        out_len += _u16(inner)
        i = close + len(marker)
    return "".join(out), entities


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[JSONDict] | None]:
    """Apply a Bot API ``parse_mode``; raises ``ApiError`` 400 like the server on bad markup."""
    if not parse_mode:
        return text, None
    mode = parse_mode.lower()
    try:
        if mode == "html":
            return _parse_html(text)
        if mode == "markdownv2":
            return _parse_markdown_v2(text)
        if mode == "markdown":
            return _parse_markdown_legacy(text)
    except _EntityParseError as exc:
        raise _bad_request(f"can't parse entities: {exc}") from None
    raise _bad_request("unsupported parse_mode")


def auto_entities(text: str, bot_username: str | None = None) -> list[JSONDict]:
    """``bot_command`` and ``mention`` entities as Telegram detects them (UTF-16 offsets)."""
    del bot_username  # any @name is marked; privacy mode decides who receives the message
    found: list[JSONDict] = []
    for match in _COMMAND_RE.finditer(text):
        found.append(
            {
                "type": "bot_command",
                "offset": _u16(text[: match.start()]),
                "length": _u16(match.group()),
            }
        )
    for match in _MENTION_RE.finditer(text):
        found.append(
            {
                "type": "mention",
                "offset": _u16(text[: match.start()]),
                "length": _u16(match.group()),
            }
        )
    found.sort(key=lambda e: e["offset"])
    return found


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


class TelegramFake:
    """Loopback Telegram Bot API. See the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "banana_bot",
        bot_first_name: str = "Banana Bot",
        privacy_mode: bool = False,
        can_join_groups: bool = True,
        supports_inline_queries: bool = False,
        webhook_delivery: bool = True,
        host: str = "127.0.0.1",
        first_update_id: int = 100_000,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.privacy_mode = privacy_mode
        self.can_join_groups = can_join_groups
        self.supports_inline_queries = supports_inline_queries
        self.webhook_delivery = webhook_delivery
        self.host = host

        self.calls: list[Call] = []
        self.downloads: list[Download] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.delivered_update_ids: list[int] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.webhook_url = ""
        self.webhook_secret_token: str | None = None
        self.answered_callback_queries: dict[str, JSONDict] = {}

        self._notifier = _Notifier()
        self._closing = False
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._delivery_task: asyncio.Task[None] | None = None

        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, FakeChat] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._blocked: dict[int, str] = {}
        self._topics: dict[tuple[int, int], JSONDict] = {}  # (chat, thread) -> service message
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._next_message_id: dict[int, int] = {}
        self._bot_sent: dict[int, list[int]] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, str] = {}  # file_path -> file_id
        self._photo_groups: dict[str, list[JSONDict]] = {}  # any size's file_id -> all sizes
        self._documents: dict[str, JSONDict] = {}
        self._callback_queries: dict[str, JSONDict] = {}
        self._failures: list[_Failure] = []
        self._updates: list[JSONDict] = []
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        self._ids = itertools.count(1)
        self._extra_methods: dict[str, Callable[[Call], Any]] = {}

        self._methods: dict[str, Callable[[Call], Any]] = {
            "getMe": self._get_me,
            "logOut": lambda call: True,
            "close": lambda call: True,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChat": self._get_chat,
            "getFile": self._get_file,
            "setMessageReaction": self._set_message_reaction,
        }

    # ---------------------------------------------------------------- lifecycle and addresses

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=FILESIZE_UPLOAD + 10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        self._runner, self._port = await serve(app, self.host)
        if self.webhook_delivery:
            self._delivery_task = asyncio.create_task(self._deliver_webhooks())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Answer pending long polls with [] at once and stop the server."""
        self._closing = True
        self._notifier.notify()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
            self._delivery_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("TelegramFake is not running; use `async with TelegramFake()`")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """For ``ApplicationBuilder.base_url``; PTB appends the token."""
        return f"{self.base_url}/bot"

    @property
    def file_base_url(self) -> str:
        """For ``ApplicationBuilder.base_file_url``; PTB appends the token."""
        return f"{self.base_url}/file/bot"

    @property
    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ---------------------------------------------------------------- recorded calls and waits

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        predicate: Callable[[TelegramFake], bool],
        timeout: float = 10,  # noqa: ASYNC109 - the brief's API; bounded internally
    ) -> None:
        """Wait until ``predicate(tg)`` holds; re-checked on every recorded call, answer, queued
        update and download. Raises ``AssertionError`` (with the calls so far) on timeout."""
        if not await self._notifier.wait_until(lambda: predicate(self), timeout):
            raise AssertionError(
                f"condition not met within {timeout}s; calls so far: {self._calls_summary()}"
            )

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10,  # noqa: ASYNC109 - the brief's API; bounded internally
    ) -> Call:
        """Wait until ``method`` was called ``count`` times and answered (a long poll counts as
        soon as it arrives) and return that ``count``-th call."""

        def ready(tg: TelegramFake) -> bool:
            calls = tg.calls_of(method)
            if len(calls) < count:
                return False
            return method == "getUpdates" or calls[count - 1].status is not None

        await self.wait_for(ready, timeout)
        return self.calls_of(method)[count - 1]

    def _calls_summary(self) -> str:
        return ", ".join(f"{c.method}->{c.status}" for c in self.calls[-30:]) or "none"

    # ---------------------------------------------------------------- scripted failures

    def fail_next(
        self,
        method: str,
        status: int = 429,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
        disconnect: bool = False,
        chat_id: int | FakeChat | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status`` 429 gets ``parameters.retry_after`` (default 1 s); the default descriptions
        are the real ones ("Too Many Requests: retry after N", "Forbidden: bot was kicked from
        the group chat", ...). ``disconnect=True`` closes the connection without an answer
        (PTB raises ``NetworkError``). ``chat_id`` limits the failure to calls for that chat.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                400: "Bad Request: message to be replied not found",
                401: "Unauthorized",
                403: "Forbidden: bot was kicked from the group chat",
                404: "Not Found",
                409: CONFLICT_GETUPDATES,
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(status, "Internal Server Error")
        self._failures.append(
            _Failure(
                method=method,
                status=status,
                description=description,
                retry_after=retry_after,
                times=times,
                disconnect=disconnect,
                chat_id=self._chat_id(chat_id) if chat_id is not None else None,
            )
        )

    def block_bot(self, chat: FakeChat | int, description: str | None = None) -> None:
        """Every later call for this chat fails with 403 ("bot was blocked by the user" for
        private chats, "bot was kicked from the ... chat" for groups)."""
        chat_obj = self._require_known_chat(chat)
        if description is None:
            if chat_obj.type == "private":
                description = "Forbidden: bot was blocked by the user"
            elif chat_obj.type == "supergroup":
                description = "Forbidden: bot was kicked from the supergroup chat"
            else:
                description = "Forbidden: bot was kicked from the group chat"
        self._blocked[chat_obj.id] = description

    def unblock_bot(self, chat: FakeChat | int) -> None:
        self._blocked.pop(self._chat_id(chat), None)

    def register_method(self, name: str, handler: Callable[[Call], Any]) -> None:
        """Add or override a Bot API method (``getUpdates`` too): ``handler(call)`` returns the
        ``result`` or raises ``ApiError``."""
        self._extra_methods[name] = handler
        self._notifier.notify()  # a pending long poll ends; the next one meets the override

    def unregister_method(self, name: str) -> None:
        """Undo ``register_method``: the built-in behaviour (if any) returns."""
        self._extra_methods.pop(name, None)

    # ---------------------------------------------------------------- people and chats

    def user(
        self,
        id: int,
        first_name: str = "User",
        username: str | None = None,
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
        is_bot: bool = False,
    ) -> FakeUser:
        user = FakeUser(id, first_name, username, language_code, last_name, is_bot)
        self._users[id] = user
        return user

    def private_chat(self, user: FakeUser) -> FakeChat:
        chat = FakeChat(
            id=user.id,
            type="private",
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
        )
        self._users.setdefault(user.id, user)
        self._chats[chat.id] = chat
        return chat

    def group(
        self,
        id: int,
        title: str,
        supergroup: bool = True,
        forum: bool = False,
        *,
        username: str | None = None,
    ) -> FakeChat:
        if forum and not supergroup:
            raise ValueError("only supergroups can be forums")
        chat = FakeChat(
            id=id,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
            is_forum=forum,
        )
        self._chats[chat.id] = chat
        if forum:
            # Message 1 of a forum created the General topic (thread id 1 is reserved for it).
            self._next_message_id.setdefault(chat.id, 1)
        return chat

    def set_chat_member(
        self,
        chat: FakeChat | int,
        user: FakeUser | int,
        status: Literal["creator", "administrator", "member", "restricted", "left", "kicked"],
    ) -> None:
        """Status answered by getChatMember (default "member"). Use ``tg.bot_id`` as the user to
        make the bot an admin; an admin bot receives every group message even in privacy mode."""
        user_id = user.id if isinstance(user, FakeUser) else user
        self._members[(self._chat_id(chat), user_id)] = status

    def create_forum_topic(
        self,
        chat: FakeChat,
        user: FakeUser,
        name: str,
        *,
        icon_color: int = FORUM_ICON_COLOR,
    ) -> tuple[int, JSONDict]:
        """A user creates a topic: returns ``(message_thread_id, forum_topic_created message)``.
        The service message is queued as an update (service messages pass privacy mode)."""
        if not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum")
        message_id = self._allocate_message_id(chat.id)
        message: JSONDict = {
            "message_id": message_id,
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": _now(),
            "message_thread_id": message_id,
            "forum_topic_created": {"name": name, "icon_color": icon_color},
            "is_topic_message": True,
        }
        self._store_message(message)
        self._topics[(chat.id, message_id)] = message
        self.queue_update({"message": message})
        return message_id, copy.deepcopy(message)

    # ---------------------------------------------------------------- incoming updates

    def send_user_message(
        self,
        chat: FakeChat,
        user: FakeUser,
        *,
        text: str | None = None,
        photo: bytes | None = None,
        document: bytes | None = None,
        document_mime: str = "image/png",
        document_name: str = "image.png",
        document_size_override: int | None = None,
        caption: str | None = None,
        reply_to: JSONDict | int | None = None,
        media_group_id: str | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        entities: list[JSONDict] | None = None,
        deliver: bool | None = None,
    ) -> JSONDict:
        """A user sends a message; returns the Message dict as the bot will receive it.

        ``photo`` becomes three PhotoSize entries (real dimensions via Pillow); ``document``
        becomes a Document (``document_size_override`` declares a size, e.g. > 20 MB, without
        storing that many bytes). ``entities``/``caption_entities`` are filled in for /commands
        and @mentions unless given. ``reply_to`` (a message dict or id in this chat) becomes a
        one-level ``reply_to_message``. In a forum, ``message_thread_id`` of a topic makes it a
        topic message whose ``reply_to_message`` is the topic's service message (unless it
        replies to something else). In groups with ``privacy_mode`` the update is only queued
        when the bot would see it (command, @mention, reply to the bot, bot is admin);
        ``deliver`` forces it either way. The message is stored either way.
        """
        self._users.setdefault(user.id, user)
        self._chats.setdefault(chat.id, chat)
        reply_target = self._resolve_user_reply(chat, reply_to)
        thread_fields, reply_target = self._thread_fields(
            chat, message_thread_id, reply_target, from_bot=False
        )
        if is_topic_message is not None:
            if is_topic_message:
                thread_fields["is_topic_message"] = True
            else:
                thread_fields.pop("is_topic_message", None)

        message: JSONDict = {
            "message_id": self._allocate_message_id(chat.id),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": _now(),
            **thread_fields,
        }
        if reply_target is not None:
            message["reply_to_message"] = self._nested(reply_target)
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        if photo is not None:
            message["photo"] = self._store_photo(photo)
        if document is not None:
            message["document"] = self._store_document(
                document, document_name, document_mime, document_size_override
            )
        body_key, entities_key = (
            ("caption", "caption_entities")
            if photo is not None or document is not None
            else ("text", "entities")
        )
        body = caption if body_key == "caption" else text
        if body_key == "caption" and text is not None:
            raise ValueError("a media message has a caption, not text")
        if body is not None:
            message[body_key] = body
            found = entities if entities is not None else auto_entities(body)
            if found:
                message[entities_key] = found
        elif photo is None and document is None:
            raise ValueError("send_user_message needs text, photo or document")

        self._store_message(message)
        if deliver is None:
            deliver = self._bot_receives(chat, message)
        if deliver:
            self.queue_update({"message": message})
        return copy.deepcopy(message)

    def send_album(
        self,
        chat: FakeChat,
        user: FakeUser,
        photos: list[bytes],
        caption: str | None = None,
        caption_index: int = 0,
        *,
        reply_to: JSONDict | int | None = None,
        message_thread_id: int | None = None,
        as_documents: bool = False,
        document_mime: str = "image/png",
        deliver: bool | None = None,
    ) -> list[JSONDict]:
        """A user sends an album: one update per item, all sharing a ``media_group_id``, the
        caption on item ``caption_index`` only (as Telegram clients do). With ``privacy_mode`` in
        a group the privacy rule is applied per item, so uncaptioned siblings of a ``/command``
        caption are not delivered (reported by bot authors, not verified against Telegram; use
        ``deliver=True`` to deliver all)."""
        if not 2 <= len(photos) <= 10:
            raise ValueError("albums hold 2-10 items")
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        messages = []
        for index, data in enumerate(photos):
            item_caption = caption if index == caption_index else None
            if as_documents:
                messages.append(
                    self.send_user_message(
                        chat,
                        user,
                        document=data,
                        document_mime=document_mime,
                        document_name=f"image_{index + 1}.{document_mime.rpartition('/')[2]}",
                        caption=item_caption,
                        reply_to=reply_to,
                        media_group_id=group_id,
                        message_thread_id=message_thread_id,
                        deliver=deliver,
                    )
                )
            else:
                messages.append(
                    self.send_user_message(
                        chat,
                        user,
                        photo=data,
                        caption=item_caption,
                        reply_to=reply_to,
                        media_group_id=group_id,
                        message_thread_id=message_thread_id,
                        deliver=deliver,
                    )
                )
        return messages

    def send_animation(
        self,
        chat: FakeChat,
        user: FakeUser,
        *,
        thumbnail: bytes | None,
        caption: str | None = None,
        reply_to: JSONDict | int | None = None,
        file_name: str = "funny.gif.mp4",
        deliver: bool | None = None,
    ) -> JSONDict:
        """A user sends a GIF. Telegram converts it to a silent MP4 and delivers an
        ``animation`` plus, for backward compatibility, a ``document`` with the same file
        (``video/mp4``); both carry the JPEG ``thumbnail`` (and its legacy twin ``thumb``)
        when Telegram made one. ``thumbnail=None`` sends an animation without a still."""
        self._users.setdefault(user.id, user)
        self._chats.setdefault(chat.id, chat)
        clip = self._new_file(_FAKE_MP4, "animations", "mp4", "CgAC")
        width, height = 480, 270
        fields: JSONDict = {
            "file_name": file_name,
            "mime_type": "video/mp4",
            "file_id": clip.file_id,
            "file_unique_id": clip.file_unique_id,
            "file_size": clip.file_size,
        }
        if thumbnail is not None:
            with Image.open(io.BytesIO(thumbnail)) as image:
                thumb_w, thumb_h = image.size
            still = self._new_file(thumbnail, "thumbnails", "jpg", "AAMC")
            size = {
                "file_id": still.file_id,
                "file_unique_id": still.file_unique_id,
                "file_size": still.file_size,
                "width": thumb_w,
                "height": thumb_h,
            }
            fields["thumbnail"] = size
            fields["thumb"] = copy.deepcopy(size)
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat.id),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": _now(),
            "animation": {"duration": 2, "width": width, "height": height, **fields},
            "document": copy.deepcopy(fields),
        }
        reply_target = self._resolve_user_reply(chat, reply_to)
        if reply_target is not None:
            message["reply_to_message"] = self._nested(reply_target)
        if caption is not None:
            message["caption"] = caption
            if found := auto_entities(caption):
                message["caption_entities"] = found
        self._store_message(message)
        if deliver is None:
            deliver = self._bot_receives(chat, message)
        if deliver:
            self.queue_update({"message": message})
        return copy.deepcopy(message)

    def edit_user_message(
        self,
        chat: FakeChat,
        message_id: int,
        *,
        text: str | None = None,
        caption: str | None = None,
    ) -> JSONDict:
        """A user edits a message: queues an ``edited_message`` update."""
        stored = self._get_message(chat.id, message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat.id}")
        if text is not None:
            stored["text"] = text
            stored.pop("entities", None)
            if found := auto_entities(text):
                stored["entities"] = found
        if caption is not None:
            stored["caption"] = caption
            stored.pop("caption_entities", None)
            if found := auto_entities(caption):
                stored["caption_entities"] = found
        stored["edit_date"] = _now()
        if self._bot_receives(chat, stored):
            self.queue_update({"edited_message": stored})
        return copy.deepcopy(stored)

    def press_button(
        self, chat: FakeChat, user: FakeUser, message: JSONDict, callback_data: str
    ) -> JSONDict:
        """A user presses an inline button of ``message`` (a bot message). The button must exist
        in the message's current inline keyboard. Queues and returns the callback_query update."""
        stored = self._get_message(chat.id, int(message["message_id"]))
        if stored is None:
            raise KeyError(f"message {message['message_id']} in chat {chat.id} does not exist")
        keyboard = (stored.get("reply_markup") or {}).get("inline_keyboard", [])
        datas = [button.get("callback_data") for row in keyboard for button in row]
        if callback_data not in datas:
            raise ValueError(
                f"message {stored['message_id']} has no button with callback_data "
                f"{callback_data!r}; buttons: {datas}"
            )
        query_id = str(4_000_000_000_000_000_000 + next(self._ids))
        query: JSONDict = {
            "id": query_id,
            "from": user.to_dict(),
            "message": copy.deepcopy(stored),
            "chat_instance": str(int(hashlib.sha1(str(chat.id).encode()).hexdigest()[:15], 16)),
            "data": callback_data,
        }
        self._callback_queries[query_id] = query
        return self.queue_update({"callback_query": query})

    def seed_bot_message(
        self,
        chat: FakeChat,
        *,
        text: str | None = None,
        photo: bytes | None = None,
        document: bytes | None = None,
        document_mime: str = "image/png",
        document_name: str = "image.png",
        caption: str | None = None,
        reply_to: JSONDict | int | None = None,
        message_thread_id: int | None = None,
        reply_markup: JSONDict | None = None,
    ) -> JSONDict:
        """Store a message as if the bot had sent it earlier (e.g. before a restart), without a
        running bot and without an API call. It shows up in ``sent_messages``."""
        self._chats.setdefault(chat.id, chat)
        reply_target = self._resolve_user_reply(chat, reply_to)
        thread_fields, reply_target = self._thread_fields(
            chat, message_thread_id, reply_target, from_bot=False
        )
        content: JSONDict = {}
        if photo is not None:
            content["photo"] = self._store_photo(photo)
        if document is not None:
            content["document"] = self._store_document(
                document, document_name, document_mime, None
            )
        body = caption if content else text
        if body is not None:
            content["caption" if content else "text"] = body
        if not content:
            raise ValueError("seed_bot_message needs text, photo or document")
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat.id),
            "from": self.bot_user,
            "chat": chat.to_dict(),
            "date": _now(),
            **thread_fields,
        }
        if reply_target is not None:
            message["reply_to_message"] = self._nested(reply_target)
        message.update(content)
        if reply_markup is not None:
            message["reply_markup"] = reply_markup
        self._store_message(message)
        self._bot_sent.setdefault(chat.id, []).append(message["message_id"])
        return copy.deepcopy(message)

    def delete_user_message(self, chat: FakeChat | int, message_id: int) -> None:
        """Simulate a deleted message (replies to it then fail like on Telegram)."""
        self._deleted.add((self._chat_id(chat), message_id))

    def queue_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw update (``update_id`` is assigned). Updates of types excluded by the
        bot's ``allowed_updates`` are dropped, as on Telegram."""
        update = copy.deepcopy(update)
        kind = next((key for key in update if key != "update_id"), None)
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        if kind in self._allowed_updates:
            self._updates.append(update)
            self._notifier.notify()
        return copy.deepcopy(update)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset (or webhook delivery)."""
        return copy.deepcopy(self._updates)

    # ---------------------------------------------------------------- inspection helpers

    def sent_messages(
        self, chat: FakeChat | int, *, include_deleted: bool = False
    ) -> list[JSONDict]:
        """Messages the bot sent to this chat, in order, in their current (edited) state."""
        chat_id = self._chat_id(chat)
        result = []
        for message_id in self._bot_sent.get(chat_id, []):
            key = (chat_id, message_id)
            if key in self._deleted and not include_deleted:
                continue
            result.append(copy.deepcopy(self._messages[key]))
        return result

    def message(self, chat: FakeChat | int, message_id: int) -> JSONDict | None:
        """Current state of any stored message (None when unknown or deleted)."""
        found = self._get_message(self._chat_id(chat), message_id)
        return copy.deepcopy(found) if found is not None else None

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    def stored_file(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def chat_member_status(self, chat: FakeChat | int, user: FakeUser | int) -> str:
        user_id = user.id if isinstance(user, FakeUser) else user
        return self._members.get((self._chat_id(chat), user_id), "member")

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict] | None:
        return self.commands.get((self._scope_key(scope), language_code))

    async def post_update_to(
        self, url: str, update: JSONDict, secret_token: str | None = None
    ) -> int:
        """POST an update to a webhook endpoint the way Telegram does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            ClientSession(timeout=ClientTimeout(total=10)) as session,
            session.post(url, data=json.dumps(update), headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ---------------------------------------------------------------- HTTP layer

    async def _handle_not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        path = request.match_info["path"]
        file_id = self._file_paths.get(path)
        if file_id is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        self.downloads.append(Download(path, file_id, time.monotonic()))
        self._notifier.notify()
        return web.Response(
            body=self._files[file_id].data, content_type="application/octet-stream"
        )

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, tuple[str, str]]]:
        raw: dict[str, str] = dict(request.query)
        files: dict[str, bytes] = {}
        meta: dict[str, tuple[str, str]] = {}
        decoded: dict[str, Any] = {}
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                decoded.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    # Close it ourselves: aiohttp skips that when the handler drops the
                    # connection on purpose (disconnect failures), leaking a temp file.
                    with value.file:
                        files[key] = value.file.read()
                    meta[key] = (value.filename, value.content_type)
                else:
                    raw[key] = str(value)
        for key, value in raw.items():
            decoded[key] = value if key in STRING_PARAMS else _maybe_json(value)
        return decoded, files, meta

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        method = request.match_info["method"]
        try:
            params, files, meta = await self._read_params(request)
        except ConnectionResetError:  # the client gave up (e.g. PTB cancelled a long poll)
            return web.Response(status=499)
        call = Call(method, params, files, time.monotonic(), meta)
        self.calls.append(call)
        self._notifier.notify()

        failure = self._take_failure(call)
        if failure is not None and failure.disconnect:
            call.status = 0
            call.response = "disconnected"
            self._notifier.notify()
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # aiohttp drops the connection without an answer
        try:
            if failure is not None:
                parameters = (
                    {"retry_after": failure.retry_after}
                    if failure.retry_after is not None
                    else None
                )
                raise ApiError(failure.status, failure.description, parameters)
            if method == "getUpdates" and method not in self._extra_methods:
                result = await self._get_updates(call)
            else:
                handler = self._extra_methods.get(method) or self._methods.get(method)
                if handler is None:
                    raise ApiError(404, "Not Found")
                self._check_blocked(call)
                result = handler(call)
        except ApiError as exc:
            call.status = exc.status
            call.response = exc.body()
            self._notifier.notify()
            return web.json_response(exc.body(), status=exc.status)
        call.status = 200
        call.response = result
        self._notifier.notify()
        return web.json_response({"ok": True, "result": result})

    def _take_failure(self, call: Call) -> _Failure | None:
        for failure in self._failures:
            if failure.method != call.method:
                continue
            if (
                failure.chat_id is not None
                and _as_int(call.params.get("chat_id")) != failure.chat_id
            ):
                continue
            failure.times -= 1
            if failure.times <= 0:
                self._failures.remove(failure)
            return failure
        return None

    def _check_blocked(self, call: Call) -> None:
        chat_id = _as_int(call.params.get("chat_id"))
        if chat_id is not None and chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])

    # ---------------------------------------------------------------- getUpdates / webhooks

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        params = call.params
        self._poll_generation += 1
        generation = self._poll_generation
        self._notifier.notify()  # terminates an older pending long poll (409 like Telegram)

        offset = _as_int(params.get("offset"))
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = _as_int(params.get("limit")) or 100
        limit = max(1, min(limit, 100))
        timeout = params.get("timeout") or 0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES

        def ready() -> bool:
            return bool(self._closing or generation != self._poll_generation or self._updates)

        await self._notifier.wait_until(ready, float(timeout))
        if generation != self._poll_generation and not self._closing:
            raise ApiError(409, CONFLICT_GETUPDATES)
        if self._closing:
            return []
        batch = copy.deepcopy(self._updates[:limit])
        for update in batch:
            if update["update_id"] not in self.delivered_update_ids:
                self.delivered_update_ids.append(update["update_id"])
        return batch

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        self.webhook_secret_token = None
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, call: Call) -> bool:
        url = call.params.get("url", "")
        self.webhook_url = str(url)
        self.webhook_secret_token = call.params.get("secret_token")
        allowed = call.params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self._notifier.notify()
        return True

    def _get_webhook_info(self, call: Call) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = self.host
        failures = [d for d in self.webhook_deliveries if d.error is not None]
        if failures:
            info["last_error_date"] = int(failures[-1].time)
            info["last_error_message"] = failures[-1].error
        return info

    async def _deliver_webhooks(self) -> None:
        """While a webhook is set, POST queued updates to it in order (like Telegram)."""
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while not self._closing:
                await self._notifier.wait_until(
                    lambda: self._closing or bool(self.webhook_url and self._updates), 3600
                )
                if self._closing:
                    return
                url, update = self.webhook_url, self._updates[0]
                headers = {"Content-Type": "application/json"}
                if self.webhook_secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret_token
                status: int | None = None
                error: str | None = None
                try:
                    async with session.post(
                        url, data=json.dumps(update), headers=headers
                    ) as response:
                        await response.read()
                        status = response.status
                        if not 200 <= status < 300:
                            error = f"Wrong response from the webhook: {status} {response.reason}"
                except (OSError, TimeoutError) as exc:  # aiohttp.ClientError is an OSError
                    error = f"Connection failed: {exc}"
                self.webhook_deliveries.append(
                    WebhookDelivery(update["update_id"], status, error, time.time())
                )
                if error is None:
                    if self._updates and self._updates[0]["update_id"] == update["update_id"]:
                        self._updates.pop(0)
                    self.delivered_update_ids.append(update["update_id"])
                    self._notifier.notify()
                else:
                    self._notifier.notify()
                    # Telegram retries later; back off a little to avoid a hot loop.
                    await self._notifier.wait_until(lambda: self._closing, 0.2)

    # ---------------------------------------------------------------- bot info and commands

    def _get_me(self, call: Call) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @staticmethod
    def _scope_key(scope: Any) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True)

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not _BOT_COMMAND_NAME_RE.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description is empty or too long")
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code", "")),
        )
        self.commands[key] = commands
        return True

    def _get_my_commands(self, call: Call) -> list[JSONDict]:
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code", "")),
        )
        return copy.deepcopy(self.commands.get(key, []))

    def _delete_my_commands(self, call: Call) -> bool:
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code", "")),
        )
        self.commands.pop(key, None)
        return True

    # ---------------------------------------------------------------- chats and members

    def _chat_id(self, chat: FakeChat | int | None) -> int:
        if isinstance(chat, FakeChat):
            return chat.id
        if chat is None:
            raise ValueError("chat required")
        return int(chat)

    def _require_known_chat(self, chat: FakeChat | int) -> FakeChat:
        chat_id = self._chat_id(chat)
        found = self._chats.get(chat_id)
        if found is None and chat_id in self._users:
            found = self.private_chat(self._users[chat_id])
        if found is None:
            raise KeyError(f"unknown chat {chat_id}")
        return found

    def _chat_param(self, call: Call) -> FakeChat:
        raw = call.params.get("chat_id")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self._chats.values():
                if chat.username and f"@{chat.username}".lower() == raw.lower():
                    return chat
            raise _bad_request("chat not found")
        chat_id = _as_int(raw)
        if chat_id is None:
            raise _bad_request("chat_id is empty")
        try:
            return self._require_known_chat(chat_id)
        except KeyError:
            raise _bad_request("chat not found") from None

    def _member_dict(self, chat_id: int, user_id: int) -> JSONDict:
        if user_id == self.bot_id:
            user: JSONDict = self.bot_user
        elif user_id in self._users:
            user = self._users[user_id].to_dict()
        else:
            raise _bad_request("user not found")
        status = self._members.get((chat_id, user_id), "member")
        member: JSONDict = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_pin_messages": True,
                    "can_manage_topics": True,
                }
            )
        elif status == "restricted":
            member.update(
                {
                    "is_member": True,
                    "until_date": 0,
                    "can_edit_tag": False,
                    **{
                        key: False
                        for key in (
                            "can_change_info",
                            "can_invite_users",
                            "can_pin_messages",
                            "can_send_messages",
                            "can_send_polls",
                            "can_send_other_messages",
                            "can_add_web_page_previews",
                            "can_manage_topics",
                            "can_send_audios",
                            "can_send_documents",
                            "can_send_photos",
                            "can_send_videos",
                            "can_send_video_notes",
                            "can_send_voice_notes",
                        )
                    },
                }
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _get_chat_member(self, call: Call) -> JSONDict:
        chat = self._chat_param(call)
        user_id = _as_int(call.params.get("user_id"))
        if user_id is None:
            raise _bad_request("user_id is empty")
        return self._member_dict(chat.id, user_id)

    def _get_chat_administrators(self, call: Call) -> list[JSONDict]:
        chat = self._chat_param(call)
        return [
            self._member_dict(chat.id, user_id)
            for (chat_id, user_id), status in self._members.items()
            if chat_id == chat.id and status in ("creator", "administrator")
        ]

    def _get_chat(self, call: Call) -> JSONDict:
        chat = self._chat_param(call)
        return {
            **chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    # ---------------------------------------------------------------- messages

    def _allocate_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _store_message(self, message: JSONDict) -> None:
        self._messages[(message["chat"]["id"], message["message_id"])] = message

    def _get_message(self, chat_id: int, message_id: int) -> JSONDict | None:
        key = (chat_id, message_id)
        if key in self._deleted:
            return None
        return self._messages.get(key)

    @staticmethod
    def _nested(message: JSONDict) -> JSONDict:
        """reply_to_message is one level deep: the nested message has no reply_to_message."""
        nested = copy.deepcopy(message)
        nested.pop("reply_to_message", None)
        return nested

    def _resolve_user_reply(
        self, chat: FakeChat, reply_to: JSONDict | int | None
    ) -> JSONDict | None:
        if reply_to is None:
            return None
        message_id = int(reply_to["message_id"]) if isinstance(reply_to, dict) else reply_to
        target = self._get_message(chat.id, message_id)
        if target is None:
            raise KeyError(f"message {message_id} in chat {chat.id} does not exist (deleted?)")
        return target

    def _thread_fields(
        self,
        chat: FakeChat,
        message_thread_id: int | None,
        reply_target: JSONDict | None,
        *,
        from_bot: bool,
    ) -> tuple[JSONDict, JSONDict | None]:
        """``message_thread_id``/``is_topic_message`` and the effective reply target, following
        Telegram: in a forum topic, a non-reply message replies to the topic's service message;
        in a non-forum supergroup, replies carry the reply chain's root as message_thread_id."""
        fields: JSONDict = {}
        if chat.is_forum:
            thread = message_thread_id
            if (
                thread is None
                and reply_target is not None
                and reply_target.get("is_topic_message")
            ):
                thread = reply_target.get("message_thread_id")
            if thread is not None:
                service = self._topics.get((chat.id, thread))
                if service is None:
                    if from_bot:
                        raise _bad_request("message thread not found")
                    raise KeyError(f"no topic {thread} in chat {chat.id}")
                fields = {"message_thread_id": thread, "is_topic_message": True}
                if reply_target is None:
                    reply_target = service
        elif chat.type == "supergroup" and reply_target is not None:
            fields = {
                "message_thread_id": reply_target.get("message_thread_id")
                or reply_target["message_id"]
            }
        return fields, reply_target

    def _bot_receives(self, chat: FakeChat, message: JSONDict) -> bool:
        """Privacy mode: in groups the bot only gets commands, mentions of it, replies to its
        messages and service messages, unless it is an admin."""
        if not self.privacy_mode or chat.type not in ("group", "supergroup"):
            return True
        if self.chat_member_status(chat, self.bot_id) in ("administrator", "creator"):
            return True
        body = message.get("text") or message.get("caption") or ""
        entities = message.get("entities") or message.get("caption_entities") or []
        encoded = body.encode("utf-16-le")
        for entity in entities:
            start, length = entity["offset"] * 2, entity["length"] * 2
            fragment = encoded[start : start + length].decode("utf-16-le")
            if entity["type"] == "bot_command":
                _, _, target = fragment.partition("@")
                if not target or target.lower() == self.bot_username.lower():
                    return True
            if entity["type"] == "mention" and fragment[1:].lower() == self.bot_username.lower():
                return True
        reply = message.get("reply_to_message")
        if reply is not None and reply.get("from", {}).get("id") == self.bot_id:
            return True
        content_keys = {
            "text",
            "photo",
            "document",
            "caption",
            "sticker",
            "video",
            "audio",
            "voice",
            "animation",
            "video_note",
            "poll",
            "location",
            "contact",
        }
        return not any(key in message for key in content_keys)  # service message

    def _resolve_bot_reply(self, chat: FakeChat, params: dict[str, Any]) -> JSONDict | None:
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            message_id = _as_int(reply_parameters.get("message_id"))
            allow_without = bool(reply_parameters.get("allow_sending_without_reply"))
            target_chat_id = _as_int(reply_parameters.get("chat_id")) or chat.id
        elif params.get("reply_to_message_id") is not None:
            message_id = _as_int(params.get("reply_to_message_id"))
            allow_without = bool(params.get("allow_sending_without_reply"))
            target_chat_id = chat.id
        else:
            return None
        target = self._get_message(target_chat_id, message_id) if message_id is not None else None
        if target is None:
            if allow_without:
                return None
            raise _bad_request("message to be replied not found")
        if isinstance(reply_parameters, dict) and reply_parameters.get("quote"):
            quoted = str(reply_parameters["quote"])
            if quoted not in (target.get("text") or target.get("caption") or ""):
                raise _bad_request("QUOTE_TEXT_INVALID")
        return target

    def _bot_message(self, call: Call, content: JSONDict) -> JSONDict:
        return self._bot_messages(call, [content])[0]

    def _bot_messages(self, call: Call, contents: list[JSONDict]) -> list[JSONDict]:
        """Build, store and return one bot message per ``contents`` item; they share the chat,
        reply target, thread and reply markup of the call."""
        params = call.params
        chat = self._chat_param(call)
        reply_target = self._resolve_bot_reply(chat, params)
        thread_fields, reply_target = self._thread_fields(
            chat, _as_int(params.get("message_thread_id")), reply_target, from_bot=True
        )
        quote: JSONDict | None = None
        reply_parameters = params.get("reply_parameters")
        if (
            reply_target is not None
            and isinstance(reply_parameters, dict)
            and reply_parameters.get("quote")
        ):
            quote = {
                "text": reply_parameters["quote"],
                "position": int(reply_parameters.get("quote_position") or 0),
                "is_manual": True,
            }
        markup = params.get("reply_markup")
        messages = []
        for content in contents:
            message: JSONDict = {
                "message_id": self._allocate_message_id(chat.id),
                "from": self.bot_user,
                "chat": chat.to_dict(),
                "date": _now(),
                **thread_fields,
            }
            if reply_target is not None:
                message["reply_to_message"] = self._nested(reply_target)
            if quote is not None:
                message["quote"] = quote
            message.update(content)
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            if params.get("has_spoiler"):
                message["has_media_spoiler"] = True
            if params.get("protect_content"):
                message["has_protected_content"] = True
            self._store_message(message)
            self._bot_sent.setdefault(chat.id, []).append(message["message_id"])
            messages.append(message)
        return copy.deepcopy(messages)

    def _formatted(
        self, params: dict[str, Any], key: str, entities_key: str, limit: int
    ) -> JSONDict:
        raw = params.get(key)
        if raw is None:
            return {}
        text, entities = parse_formatted(str(raw), params.get("parse_mode"))
        if isinstance(params.get(entities_key), list):
            entities = params[entities_key]
        if entities is None:
            entities = auto_entities(text)
        if _u16(text) > limit:
            if key == "caption":
                raise _bad_request("message caption is too long")
            raise _bad_request("message is too long")
        result: JSONDict = {key: text}
        if entities:
            result[entities_key] = entities
        return result

    def _send_message(self, call: Call) -> JSONDict:
        text = call.params.get("text")
        content = self._formatted(call.params, "text", "entities", MAX_TEXT_LENGTH)
        if text is None or not str(content.get("text", "")).strip():
            raise _bad_request("message text is empty")
        return self._bot_message(call, content)

    def _input_bytes(self, call: Call, name: str) -> tuple[bytes, str, str] | str:
        """An upload (bytes, filename, mime) or a file id string for parameter ``name``."""
        if name in call.files:
            filename, mime = call.file_meta.get(name, ("file", "application/octet-stream"))
            return call.files[name], filename, mime
        ref = call.params.get(name)
        if isinstance(ref, str) and ref.startswith("attach://"):
            part = ref.removeprefix("attach://")
            if part not in call.files:
                raise _bad_request(f'can\'t find attached file "{part}"')
            filename, mime = call.file_meta.get(part, ("file", "application/octet-stream"))
            return call.files[part], filename, mime
        if not ref:
            raise _bad_request(f"there is no {name} in the request")
        return str(ref)

    def _photo_content(self, source: tuple[bytes, str, str] | str) -> list[JSONDict]:
        if isinstance(source, str):
            sizes = self._photo_groups.get(source)
            if sizes is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            return copy.deepcopy(sizes)
        data = source[0]
        if len(data) > 10 * 1024 * 1024:
            raise _bad_request("PHOTO_SAVE_FILE_INVALID")
        sizes = self._store_photo(data)
        width, height = sizes[-1]["width"], sizes[-1]["height"]
        if width + height > 10000:
            raise _bad_request("PHOTO_INVALID_DIMENSIONS")
        return sizes

    def _document_content(self, source: tuple[bytes, str, str] | str) -> JSONDict:
        if isinstance(source, str):
            document = self._documents.get(source)
            if document is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            return copy.deepcopy(document)
        data, filename, mime = source
        if len(data) > FILESIZE_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        return self._store_document(data, filename, mime, None)

    def _send_photo(self, call: Call) -> JSONDict:
        caption = self._formatted(call.params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        photo = self._photo_content(self._input_bytes(call, "photo"))
        content = {"photo": photo, **caption}
        if call.params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return self._bot_message(call, content)

    def _send_document(self, call: Call) -> JSONDict:
        caption = self._formatted(call.params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        document = self._document_content(self._input_bytes(call, "document"))
        return self._bot_message(call, {"document": document, **caption})

    def _send_media_group(self, call: Call) -> list[JSONDict]:
        media = call.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad_request("media must include 2-10 items")
        kinds = {item.get("type") for item in media}
        if "document" in kinds and kinds != {"document"}:
            raise _bad_request("documents can't be mixed with other media types")
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        self._chat_param(call)  # fail with "chat not found" before storing files
        self._resolve_bot_reply(self._chat_param(call), call.params)
        contents: list[JSONDict] = []
        for item in media:
            kind = item.get("type")
            ref = item.get("media")
            source: tuple[bytes, str, str] | str
            if isinstance(ref, str) and ref.startswith("attach://"):
                part = ref.removeprefix("attach://")
                if part not in call.files:
                    raise _bad_request(f'can\'t find attached file "{part}"')
                filename, mime = call.file_meta.get(part, ("file", "application/octet-stream"))
                source = (call.files[part], filename, mime)
            elif isinstance(ref, str) and ref:
                source = ref
            else:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            caption = self._formatted(item, "caption", "caption_entities", MAX_CAPTION_LENGTH)
            content: JSONDict = {"media_group_id": group_id}
            if kind == "photo":
                content["photo"] = self._photo_content(source)
            elif kind == "document":
                content["document"] = self._document_content(source)
            else:
                raise _bad_request(f"unsupported media type {kind!r} in the fake")
            if item.get("has_spoiler"):
                content["has_media_spoiler"] = True
            content.update(caption)
            contents.append(content)
        return self._bot_messages(call, contents)

    def _send_chat_action(self, call: Call) -> bool:
        chat = self._chat_param(call)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        thread = _as_int(call.params.get("message_thread_id"))
        if chat.is_forum and thread is not None and (chat.id, thread) not in self._topics:
            raise _bad_request("message thread not found")
        return True

    def _editable(self, call: Call) -> JSONDict:
        if call.params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the fake")
        chat = self._chat_param(call)
        message_id = _as_int(call.params.get("message_id"))
        message = self._get_message(chat.id, message_id) if message_id is not None else None
        if message is None:
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        return message

    @staticmethod
    def _apply_edit(
        message: JSONDict, changes: JSONDict, drop: Iterable[str], markup: Any
    ) -> JSONDict:
        """Edit in place like Telegram (the markup is replaced, or removed when not given)."""
        new = copy.deepcopy(message)
        for key in drop:
            new.pop(key, None)
        new.update(changes)
        new.pop("reply_markup", None)
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        unchanged = {k: v for k, v in new.items() if k != "edit_date"} == {
            k: v for k, v in message.items() if k != "edit_date"
        }
        if unchanged:
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = _now()
        message.clear()
        message.update(new)
        return copy.deepcopy(message)

    def _edit_message_text(self, call: Call) -> JSONDict:
        message = self._editable(call)
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        content = self._formatted(call.params, "text", "entities", MAX_TEXT_LENGTH)
        if not str(content.get("text", "")).strip():
            raise _bad_request("message text is empty")
        return self._apply_edit(message, content, ("entities",), call.params.get("reply_markup"))

    def _edit_message_caption(self, call: Call) -> JSONDict:
        message = self._editable(call)
        if not any(k in message for k in ("photo", "document", "video", "animation", "audio")):
            raise _bad_request("there is no caption in the message to edit")
        content = self._formatted(call.params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        return self._apply_edit(
            message, content, ("caption", "caption_entities"), call.params.get("reply_markup")
        )

    def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        message = self._editable(call)
        return self._apply_edit(message, {}, (), call.params.get("reply_markup"))

    def _delete_message(self, call: Call) -> bool:
        chat = self._chat_param(call)
        message_id = _as_int(call.params.get("message_id"))
        if message_id is None or self._get_message(chat.id, message_id) is None:
            raise _bad_request("message to delete not found")
        self._deleted.add((chat.id, message_id))
        return True

    def _set_message_reaction(self, call: Call) -> bool:
        chat = self._chat_param(call)
        message_id = _as_int(call.params.get("message_id"))
        if message_id is None or self._get_message(chat.id, message_id) is None:
            raise _bad_request("message to react not found")
        return True

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id", ""))
        if query_id not in self._callback_queries or query_id in self.answered_callback_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = call.params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self.answered_callback_queries[query_id] = dict(call.params)
        return True

    # ---------------------------------------------------------------- files

    def _new_file(
        self,
        data: bytes,
        folder: str,
        extension: str,
        prefix: str,
        declared_size: int | None = None,
    ) -> StoredFile:
        number = next(self._ids)
        digest = hashlib.sha1(data).hexdigest()[:12]
        file_id = f"{prefix}AgADBAAD{number:06d}{digest}"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{number:06d}{digest[:6]}",
            data=data,
            file_size=declared_size if declared_size is not None else len(data),
            file_path=f"{folder}/file_{number}.{extension}",
        )
        self._files[file_id] = stored
        self._file_paths[stored.file_path] = file_id
        return stored

    def _store_photo(self, data: bytes) -> list[JSONDict]:
        """Three PhotoSize entries like Telegram: 90 px and 320 px JPEG thumbnails and the full
        image (original bytes and dimensions)."""
        sizes: list[JSONDict] = []
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                thumbs: list[tuple[bytes, int, int]] = []
                for target in (90, 320):
                    thumb = image.convert("RGB")
                    thumb.thumbnail((target, target))
                    buffer = io.BytesIO()
                    thumb.save(buffer, format="JPEG", quality=80)
                    thumbs.append((buffer.getvalue(), thumb.width, thumb.height))
        except (OSError, ValueError, Image.DecompressionBombError):
            width, height = 1280, 960
            thumbs = [(data, 90, 68), (data, 320, 240)]
        for thumb_data, thumb_w, thumb_h in [*thumbs, (data, width, height)]:
            stored = self._new_file(thumb_data, "photos", "jpg", "AgAC")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.file_size,
                    "width": thumb_w,
                    "height": thumb_h,
                }
            )
        for size in sizes:
            self._photo_groups[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    def _store_document(
        self, data: bytes, file_name: str, mime_type: str, declared_size: int | None
    ) -> JSONDict:
        extension = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = self._new_file(data, "documents", extension, "BQAC", declared_size)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        self._documents[stored.file_id] = document
        return copy.deepcopy(document)

    def _get_file(self, call: Call) -> JSONDict:
        file_id = str(call.params.get("file_id", ""))
        stored = self._files.get(file_id)
        if stored is None:
            raise _bad_request("wrong file_id or the file is temporarily unavailable")
        if stored.file_size > FILESIZE_DOWNLOAD:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None

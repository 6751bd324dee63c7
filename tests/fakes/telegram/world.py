"""The fake's state: the bot, people, chats, messages, and the calls it recorded.

Every part of the fake (incoming updates, update delivery, chat and message methods, files, the
HTTP server) is a mixin over this state; ``TelegramFake`` combines them into one object.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from aiohttp import web

from tests.fakes.recording import DEFAULT_TIMEOUT, CallLog, FailureScript
from tests.fakes.telegram.records import (
    Call,
    Download,
    FakeChat,
    FakeUser,
    StoredFile,
    WebhookDelivery,
)
from tests.fakes.telegram.wire import (
    DEFAULT_ALLOWED_UPDATES,
    JSONDict,
    ScriptedError,
    as_int,
    bad_request,
)

T = TypeVar("T")
Thumbnail = tuple[bytes, int, int]  # JPEG bytes, width, height
Thumbnailer = Callable[[bytes], tuple[tuple[int, int], list[Thumbnail]]]
AnswerHook = Callable[[Call], None]


class TelegramWorld:
    """State shared by every part of the fake, and the lookups they all use."""

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
        thumbnailer: Thumbnailer | None = None,
        on_answer: AnswerHook | None = None,
        middlewares: tuple[Any, ...] = (),
    ) -> None:
        """Configure the bot the fake plays; the options after ``first_update_id`` are hooks.

        ``thumbnailer(data)`` returns an uploaded photo's ``(width, height)`` and its two smaller
        ``PhotoSize`` entries (default: real 90/320 px JPEG thumbnails via Pillow).
        ``on_answer(call)`` runs after the fake answered a call (status and response set), before
        waiters wake. ``middlewares`` are aiohttp middlewares around every request (e.g. timing).
        """
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.privacy_mode = privacy_mode
        self.can_join_groups = can_join_groups
        self.supports_inline_queries = supports_inline_queries
        self.webhook_delivery = webhook_delivery
        self.host = host
        self.on_answer = on_answer
        self._thumbnailer = thumbnailer
        self._middlewares = middlewares

        self._log: CallLog[Call] = CallLog(lambda call: f"{call.method}->{call.status}")
        self.calls: list[Call] = self._log.calls
        self.downloads: list[Download] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.delivered_update_ids: list[int] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.webhook_url = ""
        self.webhook_secret_token: str | None = None
        self.answered_callback_queries: dict[str, JSONDict] = {}

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
        self._failures: FailureScript[Call, ScriptedError] = FailureScript()
        self._extra_methods: dict[str, Callable[[Call], Any]] = {}
        self._updates: list[JSONDict] = []
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        # One counter for file numbers, album and callback query ids, as before the split.
        self._ids = itertools.count(1)

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

    def calls_of(self, method: str) -> list[Call]:
        """The recorded calls of one Bot API method, oldest first."""
        return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded, re-checked on every change
    ) -> T:
        """Return ``condition()``'s first truthy value, re-checked on every recorded call, answer,
        queued update and download; ``TimeoutError`` listing recent calls after ``timeout``."""
        return await self._log.wait_for(condition, timeout)

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded, re-checked on every change
    ) -> Call:
        """Wait until ``method`` was called ``count`` times and answered (a long poll counts as
        soon as it arrives) and return that ``count``-th call."""

        def ready() -> Call | None:
            calls = self.calls_of(method)
            if len(calls) < count:
                return None
            call = calls[count - 1]
            return call if method == "getUpdates" or call.status is not None else None

        return await self.wait_for(ready, timeout)

    @property
    def bot_user(self) -> JSONDict:
        """The bot as a Bot API ``User``."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

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
        """Add a user (and return it)."""
        user = FakeUser(id, first_name, username, language_code, last_name, is_bot)
        self._users[id] = user
        return user

    def private_chat(self, user: FakeUser) -> FakeChat:
        """The private chat between ``user`` and the bot."""
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
        """Add a group or supergroup (optionally a forum)."""
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

    def chat_member_status(self, chat: FakeChat | int, user: FakeUser | int) -> str:
        """A user's status in a chat (default ``member``)."""
        user_id = user.id if isinstance(user, FakeUser) else user
        return self._members.get((self._chat_id(chat), user_id), "member")

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
            raise bad_request("chat not found")
        chat_id = as_int(raw)
        if chat_id is None:
            raise bad_request("chat_id is empty")
        try:
            return self._require_known_chat(chat_id)
        except KeyError:
            raise bad_request("chat not found") from None

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
                        raise bad_request("message thread not found")
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

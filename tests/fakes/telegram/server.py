"""The HTTP side of the fake: routing ``/bot<token>/<method>``, scripted failures, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

from tests.fakes.loopback import serve
from tests.fakes.telegram.chats import ChatMethods
from tests.fakes.telegram.delivery import UpdateDelivery
from tests.fakes.telegram.files import TelegramFiles
from tests.fakes.telegram.messages import MessageMethods
from tests.fakes.telegram.records import Call, FakeChat
from tests.fakes.telegram.updates import IncomingUpdates
from tests.fakes.telegram.wire import (
    CONFLICT_GETUPDATES,
    FILESIZE_UPLOAD,
    STRING_PARAMS,
    ApiError,
    ScriptedError,
    as_int,
    maybe_json,
)

# Bot API method -> its implementation on a mixin. getUpdates is served apart: it waits.
BOT_API_METHODS: dict[str, Callable[[Any, Call], Any]] = {
    "getMe": ChatMethods._get_me,
    "logOut": lambda fake, call: True,
    "close": lambda fake, call: True,
    "deleteWebhook": UpdateDelivery._delete_webhook,
    "setWebhook": UpdateDelivery._set_webhook,
    "getWebhookInfo": UpdateDelivery._get_webhook_info,
    "sendMessage": MessageMethods._send_message,
    "sendPhoto": MessageMethods._send_photo,
    "sendDocument": MessageMethods._send_document,
    "sendMediaGroup": MessageMethods._send_media_group,
    "sendChatAction": MessageMethods._send_chat_action,
    "editMessageText": MessageMethods._edit_message_text,
    "editMessageCaption": MessageMethods._edit_message_caption,
    "editMessageMedia": MessageMethods._edit_message_media,
    "editMessageReplyMarkup": MessageMethods._edit_message_reply_markup,
    "deleteMessage": MessageMethods._delete_message,
    "answerCallbackQuery": MessageMethods._answer_callback_query,
    "setMyCommands": ChatMethods._set_my_commands,
    "getMyCommands": ChatMethods._get_my_commands,
    "deleteMyCommands": ChatMethods._delete_my_commands,
    "getChatMember": ChatMethods._get_chat_member,
    "getChatAdministrators": ChatMethods._get_chat_administrators,
    "getChat": ChatMethods._get_chat,
    "getFile": TelegramFiles._get_file,
    "setMessageReaction": MessageMethods._set_message_reaction,
}


class TelegramFake(MessageMethods, ChatMethods, IncomingUpdates, UpdateDelivery):
    """Loopback Telegram Bot API; see the package docstring."""

    async def __aenter__(self) -> Self:
        app = web.Application(
            client_max_size=FILESIZE_UPLOAD + 10 * 1024 * 1024, middlewares=self._middlewares
        )
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
        self._log.changed()
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
        """The port the fake listens on (chosen by the OS)."""
        if self._port is None:
            raise RuntimeError("TelegramFake is not running; use `async with TelegramFake()`")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the fake."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """For ``ApplicationBuilder.base_url``; PTB appends the token."""
        return f"{self.base_url}/bot"

    @property
    def file_base_url(self) -> str:
        """For ``ApplicationBuilder.base_file_url``; PTB appends the token."""
        return f"{self.base_url}/file/bot"

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
        only_chat = self._chat_id(chat_id) if chat_id is not None else None

        def matches(call: Call) -> bool:
            return call.method == method and (
                only_chat is None or as_int(call.params.get("chat_id")) == only_chat
            )

        self._failures.add(
            matches, ScriptedError(status, description, retry_after, disconnect), times
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
        """Undo ``block_bot``."""
        self._blocked.pop(self._chat_id(chat), None)

    def register_method(self, name: str, handler: Callable[[Call], Any]) -> None:
        """Add or override a Bot API method (``getUpdates`` too): ``handler(call)`` returns the
        ``result`` or raises ``ApiError``."""
        self._extra_methods[name] = handler
        self._log.changed()  # a pending long poll ends; the next one meets the override

    def unregister_method(self, name: str) -> None:
        """Undo ``register_method``: the built-in behaviour (if any) returns."""
        self._extra_methods.pop(name, None)

    async def _handle_not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

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
            decoded[key] = value if key in STRING_PARAMS else maybe_json(value)
        return decoded, files, meta

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        method = request.match_info["method"]
        try:
            params, files, meta = await self._read_params(request)
        except ConnectionResetError:  # the client gave up (e.g. PTB cancelled a long poll)
            return web.Response(status=499)
        call = self._log.record(Call(method, params, files, time.monotonic(), meta))

        failure = self._failures.take(call)
        if failure is not None and failure.disconnect:
            self._answered(call, 0, "disconnected")
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
                result = self._dispatch(call)
        except ApiError as exc:
            self._answered(call, exc.status, exc.body())
            return web.json_response(exc.body(), status=exc.status)
        self._answered(call, 200, result)
        return web.json_response({"ok": True, "result": result})

    def _dispatch(self, call: Call) -> Any:
        """Run the method's implementation: a registered override first, then the built-in."""
        handler = self._extra_methods.get(call.method)
        if handler is not None:
            self._check_blocked(call)
            return handler(call)
        implementation = BOT_API_METHODS.get(call.method)
        if implementation is None:
            raise ApiError(404, "Not Found")
        self._check_blocked(call)
        return implementation(self, call)

    def _answered(self, call: Call, status: int, response: Any) -> None:
        call.status = status
        call.response = response
        if self.on_answer is not None:
            self.on_answer(call)
        self._log.changed()

    def _check_blocked(self, call: Call) -> None:
        chat_id = as_int(call.params.get("chat_id"))
        if chat_id is not None and chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])

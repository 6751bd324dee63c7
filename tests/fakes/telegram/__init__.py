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
  is named after the parameter (``photo``, ``document``) or, for ``sendMediaGroup`` and
  ``editMessageMedia``, after the ``attach://<name>`` reference in the ``media`` JSON
  (``call.upload("media")`` reads editMessageMedia's file). Non-string values are JSON-encoded
  strings (``chat_id='42'``, ``reply_parameters='{"message_id": 7}'``).
* replies are ``{"ok": true, "result": ...}``; errors are
  ``{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": N}}``.

Test helpers build incoming updates the way Telegram does (photos as three ``PhotoSize`` entries,
``bot_command``/``mention`` entities, one-level ``reply_to_message``, forum topics whose plain
messages reply to the ``forum_topic_created`` service message, albums as separate updates sharing a
``media_group_id``, privacy mode in groups) and queue them for ``getUpdates`` long polling or
webhook delivery. Every API call is recorded in ``tg.calls``; ``tg.wait_for(lambda: ...)`` and
``wait_for_call`` are the bounded waits of ``tests.fakes.recording`` (no sleeps needed in tests).

Deliberate simplifications: the largest ``PhotoSize`` keeps the uploaded bytes unchanged (the real
server re-encodes to JPEG, at most 1280/2560 px), the two smaller sizes are real JPEG thumbnails;
``sendPhoto``/``sendDocument`` accept uploads and file ids but not HTTP URLs (no network);
``parse_mode`` is refused (the bot sends plain text with entities); ``sendMediaGroup`` and
``editMessageMedia`` model photos and documents only (video, animation and audio are refused).

Layout: ``world`` (state), ``files``, ``updates`` (what users do), ``delivery`` (getUpdates and
webhooks), ``chats``, ``messages`` (what the bot sends), ``server`` (HTTP, failures, lifecycle);
``TelegramWorld.__init__`` documents the extension hooks (``thumbnailer``, ``on_answer``,
``middlewares``).
"""

from tests.fakes.telegram.files import jpeg_thumbnails
from tests.fakes.telegram.records import (
    Call,
    Download,
    FakeChat,
    FakeUser,
    StoredFile,
    WebhookDelivery,
)
from tests.fakes.telegram.server import TelegramFake
from tests.fakes.telegram.wire import ApiError, JSONDict
from tests.fakes.telegram.world import Thumbnail

__all__ = [
    "ApiError",
    "Call",
    "Download",
    "FakeChat",
    "FakeUser",
    "JSONDict",
    "StoredFile",
    "TelegramFake",
    "Thumbnail",
    "WebhookDelivery",
    "jpeg_thumbnails",
]

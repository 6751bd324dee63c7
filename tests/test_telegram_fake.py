"""The Telegram Bot API fake, driven by the real python-telegram-bot 22."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import io
import socket
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    ChatMemberAdministrator,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from tests.fakes.telegram import FakeChat, FakeUser, TelegramFake

WAIT = 5.0  # upper bound for every wait; tests normally finish in milliseconds


def png(width: int = 640, height: int = 480, color: tuple[int, int, int] = (250, 200, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def build_app(tg: TelegramFake) -> Application:  # type: ignore[type-arg]
    return (
        Application.builder()
        .token(tg.token)
        .base_url(tg.api_base_url)
        .base_file_url(tg.file_base_url)
        .concurrent_updates(True)
        .build()
    )


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The lifecycle API (not run_polling), with a 1 s long poll so shutdown stays fast."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def bounded(event: asyncio.Event) -> None:
    async with asyncio.timeout(WAIT):
        await event.wait()


@pytest.fixture
async def tg() -> AsyncIterator[TelegramFake]:
    async with TelegramFake() as fake:
        yield fake


@pytest.fixture
def alice(tg: TelegramFake) -> FakeUser:
    return tg.user(1001, "Alice", username="alice")


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 reads RetryAfter.retry_after inside RetryAfter.__init__, which warns unless this is
    # set; with filterwarnings=error the warning would replace the RetryAfter exception.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


# ------------------------------------------------------------------ conversation with PTB


async def test_photo_round_trip_reply_and_keyboard(tg: TelegramFake, alice: FakeUser) -> None:
    chat = tg.private_chat(alice)
    seen: list[Message] = []

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        seen.append(message)
        file = await message.photo[-1].get_file()
        data = await file.download_as_bytearray()
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Retry", callback_data="r:1")]])
        # In private chats PTB only quotes when asked (do_quote defaults to "groups only").
        await message.reply_photo(
            bytes(data), caption="done", reply_markup=keyboard, do_quote=True
        )

    app = build_app(tg)
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    original = png(1024, 768)
    async with polling(app):
        sent = tg.send_user_message(chat, alice, photo=original, caption="make it blue")
        call = await tg.wait_for_call("sendPhoto", timeout=WAIT)

    # What the handler saw: three sizes with the real dimensions, the largest last.
    photo = seen[0].photo
    assert [(p.width, p.height) for p in photo] == [(90, 68), (320, 240), (1024, 768)]
    assert seen[0].caption == "make it blue"
    assert tg.calls_of("getFile")[0].params == {"file_id": photo[-1].file_id}
    assert tg.downloads[0].file_id == photo[-1].file_id

    # The wire: multipart part "photo", JSON-encoded reply_parameters and reply_markup.
    assert call.upload("photo") == original
    assert call.params["chat_id"] == chat.id
    assert call.params["reply_parameters"] == {"message_id": sent["message_id"]}
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Retry", "callback_data": "r:1"}]]
    }
    # The result is a real message: replying, with the keyboard and a downloadable photo.
    bot_message = tg.sent_messages(chat)[-1]
    assert bot_message["reply_to_message"]["message_id"] == sent["message_id"]
    assert "reply_to_message" not in bot_message["reply_to_message"]
    assert bot_message["reply_markup"] == call.params["reply_markup"]
    assert tg.file_bytes(bot_message["photo"][-1]["file_id"]) == original
    assert bot_message["from"]["id"] == tg.bot_id


async def test_callback_query_reaches_handler_and_is_answered(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.group(-1001234567890, "Bananas")
    pressed = asyncio.Event()
    data_seen: list[str | None] = []

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        data_seen.append(query.data)
        await query.answer("Retrying")
        await query.edit_message_reply_markup(None)
        pressed.set()

    app = build_app(tg)
    app.add_handler(CallbackQueryHandler(on_button))
    async with polling(app):
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Retry", callback_data="v:7")]])
        bot_message = await app.bot.send_message(chat.id, "result", reply_markup=keyboard)
        tg.press_button(chat, alice, tg.sent_messages(chat)[-1], "v:7")
        await bounded(pressed)
        await tg.wait_for_call("editMessageReplyMarkup", timeout=WAIT)

    assert data_seen == ["v:7"]
    answer = tg.calls_of("answerCallbackQuery")[0]
    assert answer.params["text"] == "Retrying"
    assert answer.ok
    assert "reply_markup" not in tg.sent_messages(chat)[-1]
    with pytest.raises(ValueError, match="no button"):
        tg.press_button(chat, alice, tg.sent_messages(chat)[-1], "v:7")
    assert bot_message.message_id == tg.sent_messages(chat)[-1]["message_id"]


async def test_album_arrives_as_separate_updates_and_media_group_goes_back(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.private_chat(alice)
    items: list[Message] = []
    all_items = asyncio.Event()

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        items.append(update.message)
        if len(items) == 3:
            all_items.set()

    app = build_app(tg)
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    photos = [png(64, 64, (i * 80, 0, 0)) for i in range(3)]
    async with polling(app):
        album = tg.send_album(chat, alice, photos, caption="merge these", caption_index=0)
        await bounded(all_items)
        sent = await app.bot.send_media_group(
            chat.id,
            [InputMediaPhoto(photos[0], caption="one"), InputMediaPhoto(photos[1])],
            reply_parameters=ReplyParameters(album[0]["message_id"]),
        )

    assert len({m.media_group_id for m in items}) == 1
    assert items[0].media_group_id == album[0]["media_group_id"]
    assert sorted(m.caption or "" for m in items) == ["", "", "merge these"]
    assert len({m.message_id for m in items}) == 3

    call = tg.calls_of("sendMediaGroup")[0]
    media = call.params["media"]
    assert [item["type"] for item in media] == ["photo", "photo"]
    assert all(item["media"].startswith("attach://") for item in media)
    assert media[0]["caption"] == "one"
    assert call.media_bytes() == photos[:2]
    assert len(sent) == 2
    assert sent[0].media_group_id == sent[1].media_group_id is not None
    assert sent[0].caption == "one"
    assert sent[1].caption is None
    assert all(m.reply_to_message is not None for m in sent)


async def test_forum_topic_messages_reply_to_the_service_message(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.group(-1009876543210, "Art", forum=True)
    thread_id, service = tg.create_forum_topic(chat, alice, "Edits")
    seen: list[Message] = []

    async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        seen.append(message)
        await context.bot.send_chat_action(
            message.chat_id, ChatAction.UPLOAD_PHOTO, message_thread_id=message.message_thread_id
        )
        await message.reply_text(f"editing: {' '.join(context.args or [])}")

    app = build_app(tg)
    app.add_handler(CommandHandler("edit", on_edit))
    async with polling(app):
        sent = tg.send_user_message(
            chat, alice, text="/edit@banana_bot make it 🍌 yellow", message_thread_id=thread_id
        )
        reply_call = await tg.wait_for_call("sendMessage", timeout=WAIT)

    assert service["forum_topic_created"] == {"name": "Edits", "icon_color": 7322096}
    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 16}]
    message = seen[0]
    assert message.is_topic_message is True
    assert message.message_thread_id == thread_id
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == thread_id
    assert message.reply_to_message.forum_topic_created is not None
    # PTB echoes message_thread_id because is_topic_message is set, and quotes in groups.
    action = tg.calls_of("sendChatAction")[0]
    assert action.params == {
        "chat_id": chat.id,
        "action": "upload_photo",
        "message_thread_id": thread_id,
    }
    assert reply_call.params["message_thread_id"] == thread_id
    assert reply_call.params["reply_parameters"] == {"message_id": sent["message_id"]}
    assert reply_call.params["text"] == "editing: make it 🍌 yellow"
    answer = tg.sent_messages(chat)[-1]
    assert answer["is_topic_message"] is True
    assert answer["reply_to_message"]["message_id"] == sent["message_id"]


async def test_plain_supergroup_replies_carry_thread_id_without_topic(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.group(-1005555, "Plain")
    first = tg.send_user_message(chat, alice, text="hello")
    reply = tg.send_user_message(chat, alice, text="again", reply_to=first)
    assert reply["message_thread_id"] == first["message_id"]
    assert "is_topic_message" not in reply
    async with build_app(tg) as app:
        message = Message.de_json(reply, app.bot)
        await message.reply_text("ok")
    call = tg.calls_of("sendMessage")[0]
    assert "message_thread_id" not in call.params  # PTB only echoes it for topic messages


# ------------------------------------------------------------------ errors


async def test_retry_after_is_raised_by_ptb(tg: TelegramFake, alice: FakeUser) -> None:
    chat = tg.private_chat(alice)
    tg.fail_next("sendMessage", 429, retry_after=7)
    async with build_app(tg) as app:
        with pytest.raises(RetryAfter) as raised:
            await app.bot.send_message(chat.id, "hi")
        await app.bot.send_message(chat.id, "hi again")
    assert raised.value.retry_after == dtm.timedelta(seconds=7)
    failed, succeeded = tg.calls_of("sendMessage")
    assert failed.status == 429
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert succeeded.ok


async def test_retry_after_without_ptb_timedelta_warns_on_construction(
    tg: TelegramFake, alice: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA")
    chat = tg.private_chat(alice)
    tg.fail_next("sendMessage", 429, retry_after=3)
    async with build_app(tg) as app:
        with pytest.warns(PTBDeprecationWarning, match="PTB_TIMEDELTA"), pytest.raises(RetryAfter):
            await app.bot.send_message(chat.id, "hi")


async def test_scripted_http_and_connection_failures(tg: TelegramFake, alice: FakeUser) -> None:
    group = tg.group(-100777, "Kicked")
    tg.fail_next("sendMessage", 403)
    tg.fail_next("sendPhoto", 500)
    tg.fail_next("sendChatAction", disconnect=True)
    async with build_app(tg) as app:
        with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
            await app.bot.send_message(group.id, "hi")
        with pytest.raises(NetworkError):
            await app.bot.send_photo(group.id, png(10, 10))
        with pytest.raises(NetworkError):
            await app.bot.send_chat_action(group.id, ChatAction.TYPING)
        tg.block_bot(group)
        with pytest.raises(Forbidden, match="kicked from the supergroup chat"):
            await app.bot.send_message(group.id, "still there?")
        with pytest.raises(BadRequest, match="Chat not found"):
            await app.bot.send_message(424242, "who?")


async def test_reply_to_deleted_message(tg: TelegramFake, alice: FakeUser) -> None:
    chat = tg.private_chat(alice)
    sent = tg.send_user_message(chat, alice, text="edit this")
    tg.delete_user_message(chat, sent["message_id"])
    async with build_app(tg) as app:
        with pytest.raises(BadRequest, match="Message to be replied not found"):
            await app.bot.send_message(
                chat.id, "done", reply_parameters=ReplyParameters(sent["message_id"])
            )
        message = await app.bot.send_message(
            chat.id,
            "done",
            reply_parameters=ReplyParameters(sent["message_id"], allow_sending_without_reply=True),
        )
    assert message.reply_to_message is None
    assert tg.calls_of("sendMessage")[1].params["reply_parameters"] == {
        "message_id": sent["message_id"],
        "allow_sending_without_reply": True,
    }


async def test_get_file_refuses_files_over_20_mb(tg: TelegramFake, alice: FakeUser) -> None:
    chat = tg.private_chat(alice)
    big = tg.send_user_message(
        chat, alice, document=png(8, 8), document_size_override=25 * 1024 * 1024
    )
    small = tg.send_user_message(chat, alice, document=png(8, 8), document_name="a.png")
    async with build_app(tg) as app:
        with pytest.raises(BadRequest, match="File is too big"):
            await app.bot.get_file(big["document"]["file_id"])
        file = await app.bot.get_file(small["document"]["file_id"])
        assert await file.download_as_bytearray() == png(8, 8)
    assert big["document"]["file_size"] == 25 * 1024 * 1024
    assert small["document"]["mime_type"] == "image/png"


async def test_wrong_token_is_rejected(tg: TelegramFake) -> None:
    bot = Bot("999:WRONG", base_url=tg.api_base_url, base_file_url=tg.file_base_url)
    with pytest.raises(InvalidToken):
        await bot.initialize()
    await bot.shutdown()


async def test_plain_text_limits_and_unchanged_edits_like_the_server(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.private_chat(alice)
    async with build_app(tg) as app:
        message = await app.bot.send_message(chat.id, "bold 🍌 /edit")
        with pytest.raises(BadRequest, match="Message is not modified"):
            await app.bot.edit_message_text("bold 🍌 /edit", chat.id, message.message_id)
        with pytest.raises(BadRequest, match="Message caption is too long"):
            await app.bot.send_photo(chat.id, png(10, 10), caption="x" * 1025)
        with pytest.raises(BadRequest, match="does not model parse_mode"):
            await app.bot.send_message(chat.id, "<b>bold</b>", parse_mode=ParseMode.HTML)
    assert message.text == "bold 🍌 /edit"
    # The command is found as Telegram finds it: the banana is two UTF-16 code units.
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 8, 5)]


# ------------------------------------------------------------------ getUpdates semantics


async def test_offset_confirms_updates_and_they_are_not_redelivered(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.private_chat(alice)
    tg.send_user_message(chat, alice, text="one")
    tg.send_user_message(chat, alice, text="two")
    async with build_app(tg) as app:
        first = await app.bot.get_updates(timeout=0)
        again = await app.bot.get_updates(timeout=0)
        assert [u.update_id for u in again] == [u.update_id for u in first]  # not confirmed yet
        limited = await app.bot.get_updates(timeout=0, limit=1)
        assert len(limited) == 1
        confirmed = await app.bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        assert confirmed == ()
        tg.send_user_message(chat, alice, text="three")
        later = await app.bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    assert [u.message.text for u in later if u.message] == ["three"]

    # And through the Updater: what one polling session fetched is confirmed when it stops, so
    # the next session (a restarted bot) does not get it again.
    handled: list[str] = []
    arrived = asyncio.Event()

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        handled.append(update.message.text or "")
        arrived.set()

    async with build_app(tg) as app:
        await app.bot.get_updates(offset=later[-1].update_id + 1, timeout=0)
    for session in range(2):
        arrived.clear()
        app = build_app(tg)
        app.add_handler(MessageHandler(filters.TEXT, on_text))
        async with polling(app):
            tg.send_user_message(chat, alice, text=f"session {session}")
            await bounded(arrived)
    assert handled == ["session 0", "session 1"]
    assert tg.pending_updates == []


async def test_long_poll_returns_promptly_when_an_update_arrives(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat = tg.private_chat(alice)
    loop = asyncio.get_running_loop()
    async with build_app(tg) as app:
        poll = asyncio.create_task(app.bot.get_updates(timeout=30))
        await tg.wait_for_call("getUpdates", timeout=WAIT)
        started = loop.time()
        tg.send_user_message(chat, alice, text="wake up")
        updates = await asyncio.wait_for(poll, WAIT)
        assert loop.time() - started < 1.0
        assert [u.message.text for u in updates if u.message] == ["wake up"]

        started = loop.time()
        empty = await app.bot.get_updates(
            offset=updates[-1].update_id + 1, timeout=dtm.timedelta(seconds=0.3)
        )
        assert empty == ()
        assert 0.25 <= loop.time() - started < 2.0
    assert tg.calls_of("getUpdates")[0].params == {"timeout": 30}


async def test_second_poller_conflicts_and_shutdown_answers_pending_polls() -> None:
    loop = asyncio.get_running_loop()
    async with TelegramFake() as tg:
        # PTB gives getUpdates its own one-connection pool, so a second poller needs its own Bot.
        first_bot = Bot(tg.token, base_url=tg.api_base_url, base_file_url=tg.file_base_url)
        second_bot = Bot(tg.token, base_url=tg.api_base_url, base_file_url=tg.file_base_url)
        async with first_bot, second_bot:
            first = asyncio.create_task(first_bot.get_updates(timeout=30))
            await tg.wait_for_call("getUpdates", timeout=WAIT)
            second = asyncio.create_task(second_bot.get_updates(timeout=30))
            with pytest.raises(Conflict, match="terminated by other getUpdates"):
                await asyncio.wait_for(first, WAIT)
            await tg.wait_for_call("getUpdates", count=2, timeout=WAIT)
            started = loop.time()
            await tg.close()
            assert await asyncio.wait_for(second, WAIT) == ()
            assert loop.time() - started < 1.0


# ------------------------------------------------------------------ privacy, members, commands


async def test_privacy_mode_filters_group_messages() -> None:
    async with TelegramFake(privacy_mode=True) as tg:
        alice = tg.user(1, "Alice")
        group = tg.group(-100321, "Group")
        async with build_app(tg) as app:
            me = await app.bot.get_me()
        assert me.can_read_all_group_messages is False
        assert me.username == "banana_bot"

        tg.send_user_message(group, alice, text="just chatting")
        tg.send_user_message(group, alice, text="/imagine a cat")
        other_bot = tg.send_user_message(group, alice, text="/imagine@other_bot a cat")
        mention = tg.send_user_message(group, alice, text="hey @banana_bot, a dog")
        tg.send_album(group, alice, [png(8, 8), png(9, 9)], caption="/edit both")
        bot_reply = tg.seed_bot_message(group, photo=png(8, 8), caption="here you go")
        tg.send_user_message(group, alice, text="thanks", reply_to=bot_reply)
        delivered = [
            u["message"].get("text") or u["message"].get("caption") for u in tg.pending_updates
        ]
        # The album item without the caption is stored but never reaches the bot.
        assert delivered == ["/imagine a cat", "hey @banana_bot, a dog", "/edit both", "thanks"]
        assert mention["entities"] == [{"type": "mention", "offset": 4, "length": 11}]
        assert other_bot["entities"] == [{"type": "bot_command", "offset": 0, "length": 18}]

        tg.set_chat_member(group, tg.bot_id, "administrator")
        tg.send_user_message(group, alice, text="admins see everything")
        assert tg.pending_updates[-1]["message"]["text"] == "admins see everything"


async def test_members_chats_and_commands(tg: TelegramFake, alice: FakeUser) -> None:
    group = tg.group(-100999, "Team", forum=True)
    tg.set_chat_member(group, tg.bot_id, "administrator")
    tg.set_chat_member(group, alice, "creator")
    async with build_app(tg) as app:
        bot_member = await app.bot.get_chat_member(group.id, tg.bot_id)
        alice_member = await app.bot.get_chat_member(group.id, alice.id)
        chat = await app.bot.get_chat(group.id)
        await app.bot.set_my_commands([BotCommand("edit", "Edit an image")])
        await app.bot.set_my_commands(
            [BotCommand("edit", "Bild bearbeiten")],
            scope=BotCommandScopeAllGroupChats(),
            language_code="de",
        )
        default = await app.bot.get_my_commands()
        german = await app.bot.get_my_commands(
            scope=BotCommandScopeAllGroupChats(), language_code="de"
        )
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await app.bot.set_my_commands([BotCommand("Edit", "bad")])
    assert isinstance(bot_member, ChatMemberAdministrator)
    assert alice_member.status == "creator"
    assert chat.is_forum is True
    assert chat.title == "Team"
    assert [c.description for c in default] == ["Edit an image"]
    assert [c.description for c in german] == ["Bild bearbeiten"]
    assert tg.commands_for({"type": "all_group_chats"}, "de") == [
        {"command": "edit", "description": "Bild bearbeiten"}
    ]


# ------------------------------------------------------------------ webhook mode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_delivers_updates_with_the_secret_token(
    tg: TelegramFake, alice: FakeUser
) -> None:
    chat: FakeChat = tg.private_chat(alice)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"echo {update.message.text}")

    app = build_app(tg)
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="telegram",
            webhook_url=url,
            secret_token="s3cret",
        )
        try:
            assert tg.webhook_url == url
            with pytest.raises(Conflict, match="webhook is active"):
                await app.bot.get_updates(timeout=0)
            tg.send_user_message(chat, alice, text="via webhook")
            call = await tg.wait_for_call("sendMessage", timeout=WAIT)
            forged = {"update_id": 999_999, "message": tg.message(chat, 1)}
            status_wrong = await tg.post_update_to(url, forged, secret_token="nope")
            status_right = await tg.post_update_to(url, forged, secret_token="s3cret")
            await tg.wait_for_call("sendMessage", count=2, timeout=WAIT)
        finally:
            await app.updater.stop()
            await app.stop()
    assert call.params["text"] == "echo via webhook"
    assert tg.webhook_deliveries[0].status == 200
    assert tg.calls_of("setWebhook")[0].params["secret_token"] == "s3cret"
    assert status_wrong == 403
    assert status_right == 200

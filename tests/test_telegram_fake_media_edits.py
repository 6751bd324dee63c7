"""editMessageMedia in the Telegram fake, driven by the real python-telegram-bot 22."""

from __future__ import annotations

import datetime as dtm
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMedia,
    InputMediaDocument,
    InputMediaPhoto,
    Message,
)
from telegram.error import BadRequest, RetryAfter

from tests.fakes.telegram import FakeChat, FakeUser, TelegramFake


def png(width: int, height: int, color: tuple[int, int, int] = (250, 200, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def keyboard(label: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=label)]])


async def edit_media(
    bot: Bot,
    media: InputMedia,
    chat_id: int,
    message_id: int,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """``Bot.edit_message_media`` on a chat message (PTB types the result ``Message | bool``;
    ``True`` is only for inline messages)."""
    edited = await bot.edit_message_media(media, chat_id, message_id, reply_markup=reply_markup)
    assert isinstance(edited, Message)
    return edited


@pytest.fixture
async def tg() -> AsyncIterator[TelegramFake]:
    async with TelegramFake() as fake:
        yield fake


@pytest.fixture
def alice(tg: TelegramFake) -> FakeUser:
    return tg.user(1001, "Alice", username="alice")


@pytest.fixture
def chat(tg: TelegramFake, alice: FakeUser) -> FakeChat:
    return tg.private_chat(alice)


@pytest.fixture
async def bot(tg: TelegramFake) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.api_base_url, base_file_url=tg.file_base_url) as bot:
        yield bot


async def test_photo_replaced_by_a_new_photo_with_caption_and_keyboard(
    tg: TelegramFake, chat: FakeChat, bot: Bot
) -> None:
    sent = await bot.send_photo(chat.id, png(64, 48), caption="v1", reply_markup=keyboard("Old"))
    new_image = png(640, 320, (0, 0, 255))

    edited = await edit_media(
        bot,
        InputMediaPhoto(new_image, caption="v2 /edit", show_caption_above_media=True),
        chat.id,
        sent.message_id,
        reply_markup=keyboard("New"),
    )

    # The wire: `media` is InputMedia JSON naming its multipart part; the record reads it back.
    call = tg.calls_of("editMessageMedia")[0]
    assert call.params["media"]["type"] == "photo"
    assert call.params["media"]["media"].startswith("attach://")
    assert call.upload("media") == new_image
    assert call.media_bytes() == [new_image]
    # PTB got the edited message: new sizes, caption (with its detected command), keyboard.
    assert edited.message_id == sent.message_id
    assert [(p.width, p.height) for p in edited.photo] == [(90, 45), (320, 160), (640, 320)]
    assert edited.caption == "v2 /edit"
    assert [(e.type, e.offset, e.length) for e in edited.caption_entities] == [
        ("bot_command", 3, 5)
    ]
    assert edited.show_caption_above_media is True
    assert edited.edit_date is not None
    assert edited.reply_markup == keyboard("New")
    # What the user sees now: the same single message, showing the new photo.
    [shown] = tg.sent_messages(chat)
    assert shown["photo"][-1]["file_id"] == edited.photo[-1].file_id
    assert tg.file_bytes(shown["photo"][-1]["file_id"]) == new_image
    assert shown["caption"] == "v2 /edit"

    # Without reply_markup the keyboard goes, as in every Bot API edit method (observed
    # server behaviour; the docs only say "a new inline keyboard"). Same file, same caption.
    again = await edit_media(
        bot,
        InputMediaPhoto(
            edited.photo[-1].file_id, caption="v2 /edit", show_caption_above_media=True
        ),
        chat.id,
        sent.message_id,
    )
    assert again.reply_markup is None
    assert again.photo == edited.photo
    assert "reply_markup" not in tg.sent_messages(chat)[0]
    assert tg.calls_of("editMessageMedia")[1].files == {}  # a file id, nothing uploaded


async def test_photo_becomes_a_document_and_back(
    tg: TelegramFake, chat: FakeChat, bot: Bot
) -> None:
    sent = await bot.send_photo(chat.id, png(32, 32), caption="preview")
    original = png(40, 30)

    as_document = await edit_media(
        bot,
        InputMediaDocument(original, filename="result.png", caption="full quality"),
        chat.id,
        sent.message_id,
    )
    assert as_document.photo == ()
    assert as_document.document is not None
    assert as_document.document.file_name == "result.png"
    assert as_document.document.mime_type == "image/png"
    assert as_document.caption == "full quality"
    assert tg.calls_of("editMessageMedia")[0].upload("media") == original
    stored = tg.message(chat, sent.message_id)
    assert stored is not None and "photo" not in stored
    assert tg.file_bytes(stored["document"]["file_id"]) == original

    # Back to a photo, by the file id of a photo sent earlier; no caption given: none left.
    other = await bot.send_photo(chat.id, png(16, 16))
    as_photo = await edit_media(
        bot, InputMediaPhoto(other.photo[-1].file_id), chat.id, sent.message_id
    )
    assert as_photo.document is None
    assert as_photo.caption is None
    assert [p.file_id for p in as_photo.photo] == [p.file_id for p in other.photo]


async def test_text_message_gains_media_as_bot_api_7_11_allows(
    tg: TelegramFake, chat: FakeChat, bot: Bot
) -> None:
    # Since Bot API 7.11 editMessageMedia may "add media to text messages" (TDLib lets Text
    # through can_edit_message_media); the text and its entities are replaced by the media.
    sent = await bot.send_message(chat.id, "working on /edit …")
    image = png(20, 20)
    edited = await edit_media(
        bot, InputMediaPhoto(image, caption="done"), chat.id, sent.message_id
    )
    assert edited.text is None
    assert edited.entities == ()
    assert edited.caption == "done"
    [shown] = tg.sent_messages(chat)
    assert "text" not in shown and "entities" not in shown
    assert tg.file_bytes(shown["photo"][-1]["file_id"]) == image


async def test_edits_the_server_refuses(
    tg: TelegramFake, alice: FakeUser, chat: FakeChat, bot: Bot
) -> None:
    photo = await bot.send_photo(chat.id, png(8, 8), caption="same", reply_markup=keyboard("k"))
    user_message = tg.send_user_message(chat, alice, photo=png(8, 8))
    gone = await bot.send_photo(chat.id, png(8, 8))
    await bot.delete_message(chat.id, gone.message_id)
    album = await bot.send_media_group(
        chat.id, [InputMediaPhoto(png(8, 8)), InputMediaPhoto(png(9, 9))]
    )

    with pytest.raises(BadRequest, match="Message to edit not found"):
        await edit_media(bot, InputMediaPhoto(png(8, 8)), chat.id, 9999)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await edit_media(bot, InputMediaPhoto(png(8, 8)), chat.id, gone.message_id)
    with pytest.raises(BadRequest, match="Message media can't be edited"):
        await edit_media(bot, InputMediaPhoto(png(8, 8)), chat.id, user_message["message_id"])
    with pytest.raises(BadRequest, match="Can't change media type in the album"):
        await edit_media(
            bot, InputMediaDocument(png(8, 8), filename="a.png"), chat.id, album[0].message_id
        )
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await edit_media(bot, InputMediaPhoto("AgACnope"), chat.id, photo.message_id)
    with pytest.raises(BadRequest, match="Inline messages are not supported"):
        await bot.edit_message_media(InputMediaPhoto(png(8, 8)), inline_message_id="inl")
    with pytest.raises(BadRequest, match="Message is not modified"):
        await edit_media(
            bot,
            InputMediaPhoto(photo.photo[-1].file_id, caption="same"),
            chat.id,
            photo.message_id,
            reply_markup=keyboard("k"),
        )
    # An album item may take another file of its own type.
    swapped = await edit_media(bot, InputMediaPhoto(png(10, 10)), chat.id, album[1].message_id)
    assert swapped.media_group_id == album[1].media_group_id
    assert [call.status for call in tg.calls_of("editMessageMedia")] == [400] * 7 + [200]
    # What the user sees: refused edits changed nothing, the deleted message is gone.
    visible = {m["message_id"]: m for m in tg.sent_messages(chat)}
    assert gone.message_id not in visible
    assert "edit_date" not in visible[photo.message_id]
    assert visible[photo.message_id]["caption"] == "same"


async def test_attach_reference_without_its_part(tg: TelegramFake, chat: FakeChat) -> None:
    """PTB always sends the part it names, so speak the wire format directly: the server parses
    the InputMedia before it looks for the message, so the missing part is what it reports."""
    form = {
        "chat_id": str(chat.id),
        "message_id": "12345",
        "media": json.dumps({"type": "photo", "media": "attach://nothing"}),
    }
    url = f"{tg.api_base_url}{tg.token}/editMessageMedia"
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        body = await response.json()
    assert response.status == 400
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: can't parse InputMedia: media not found",
    }


async def test_scripted_429_then_the_retry_succeeds(
    tg: TelegramFake, chat: FakeChat, bot: Bot
) -> None:
    sent = await bot.send_photo(chat.id, png(8, 8))
    tg.fail_next("editMessageMedia", 429, retry_after=3, chat_id=chat)
    image = png(12, 12)
    with pytest.raises(RetryAfter) as raised:
        await edit_media(bot, InputMediaPhoto(image), chat.id, sent.message_id)
    assert raised.value.retry_after == dtm.timedelta(seconds=3)
    shown = tg.sent_messages(chat)[0]["photo"]
    assert [p["file_id"] for p in shown] == [p.file_id for p in sent.photo]  # not applied

    edited = await edit_media(bot, InputMediaPhoto(image), chat.id, sent.message_id)
    failed, succeeded = tg.calls_of("editMessageMedia")
    assert failed.status == 429
    assert failed.response["parameters"] == {"retry_after": 3}
    assert failed.upload("media") == succeeded.upload("media") == image
    assert succeeded.ok
    assert tg.file_bytes(edited.photo[-1].file_id) == image

"""Telegram delivery edge cases: several images, deleted messages, flaky network, languages."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

from adapters.telegram.sending import photo_preview
from bot.request import ChatKey
from tests.conftest import photo
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings


def two_images_reply(gemini: GeminiFake) -> tuple[Reply, list[bytes]]:
    """A model answer carrying two result images (it happens with storyboard prompts)."""
    images = [gemini.make_png(100), gemini.make_png(101)]
    parts = [{"text": "Two takes:"}] + [
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(i).decode()}}
        for i in images
    ]
    body = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    return Reply.raw(200, json.dumps(body).encode()), images


async def test_several_result_images_are_sent_as_an_album_then_buttons(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    reply, images = two_images_reply(gemini)
    gemini.script(reply)
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="two versions")
            album = await bot.reply_to(sent, "sendMediaGroup", linked=False)
            buttons = await tg.wait_for_call("sendMessage")
            await bot.linked(bot.posted(buttons))
    assert album.media_bytes() == images
    assert album.params["media"][0]["caption"] == "Two takes:"
    assert [b["text"] for b in buttons.params["reply_markup"]["inline_keyboard"][0]][:2] == [
        "Retry",
        "Original",
    ]


async def test_deleted_user_message_still_gets_its_result(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    gemini.latency = 0.3
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)):
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await gemini.wait_for_requests(1)
            tg.delete_user_message(chat, sent["message_id"])
            call = await tg.wait_for_call("sendPhoto")
    assert call.ok
    assert call.params["reply_parameters"]["allow_sending_without_reply"] is True
    assert "reply_to_message" not in call.response


async def test_dropped_connection_on_send_is_retried(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        tg.fail_next("sendPhoto", disconnect=True)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await bot.reply_to(sent)
    assert [c.ok for c in tg.calls_of("sendPhoto")] == [False, True]


async def test_bot_removed_from_chat_does_not_crash_or_loop(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            tg.block_bot(chat)
            tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await tg.wait_for_call("sendPhoto")
            # The turn is stored and answered; the bot keeps serving others.
            bob = tg.user(2, "Bob")
            other = tg.send_user_message(tg.private_chat(bob), bob, text="a red fox")
            await bot.reply_to(other)
    assert len(tg.calls_of("sendPhoto")) == 2


async def test_chat_language_setting_wins_over_the_user_locale(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    gemini.script(Reply.finish("IMAGE_SAFETY"))
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice", language_code="en")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            await bot.engine.settings_service.change(
                ChatKey("telegram", str(chat.id)), "language", "zh-Hans"
            )
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            failure = await bot.reply_to(sent, "sendMessage")
    assert "安全" in failure.params["text"]


async def test_reply_to_my_own_earlier_photo_continues_from_its_answer(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            mine = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await bot.reply_to(mine)
            again = tg.send_user_message(chat, alice, text="now green", reply_to=mine)
            await bot.reply_to(again)
            gemini.script(Reply.text_only("Which shade of green?"))
            ask = tg.send_user_message(chat, alice, text="even greener")
            question = await bot.reply_to(ask, "sendMessage", linked=True)
    assert [c.role for c in gemini.requests[1].contents] == ["user", "model", "user"]
    assert gemini.requests[1].contents[1].parts[-1].image == gemini.requests[0].result_image
    assert "Which shade of green?" in question.params["text"]
    assert question.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Retry"


def test_photo_preview_fits_send_photo_and_puts_transparency_on_white() -> None:
    """A result sendPhoto would refuse (width + height > 10000) goes out as a JPEG preview."""
    image = Image.new("RGBA", (9000, 2000), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (4000, 500, 5000, 1500))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    preview = photo_preview(buf.getvalue())
    assert preview.keep_file  # the lossless image follows as a document
    with Image.open(io.BytesIO(preview.data)) as shown:
        assert shown.format == "JPEG"
        assert sum(shown.size) <= 10_000
        assert shown.getpixel((5, 5)) == (255, 255, 255)  # not black behind transparency
    small = photo()
    kept = photo_preview(small)
    assert kept.data is small and not kept.keep_file  # what already fits is sent untouched

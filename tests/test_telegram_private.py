"""Telegram private chats, as conversations against the real PTB application."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import photo
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import button, running_bot, telegram_settings


def user_parts(gemini: GeminiFake, n: int) -> list[list[tuple[str | None, bytes | None]]]:
    """Roles and (text, image) parts of request `n`, for reading paths at a glance."""
    return [[(p.text, p.image) for p in c.parts] for c in gemini.requests[n].contents]


async def test_photo_with_caption_is_edited_and_answered_as_a_reply(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        picture = photo((10, 200, 10), (120, 90))
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(
                chat, alice, photo=picture, caption="make it <b>blue</b> & *bold*"
            )
            call = await bot.reply_to(sent)
            assert call.upload("photo") == gemini.requests[0].result_image
            assert call.params["caption"] == "Here is your edited image."
            assert "parse_mode" not in call.params
            buttons = call.params["reply_markup"]["inline_keyboard"][0]
            assert [b["text"] for b in buttons] == ["Retry", "Original", "Variations"]  # row 1
            assert tg.calls_of("sendChatAction")[0].params["action"] == "upload_photo"
    (turn,) = gemini.requests[0].contents
    assert [(p.text, p.image) for p in turn.parts] == [
        (None, picture),
        ("make it <b>blue</b> & *bold*", None),
    ]


async def test_photo_alone_waits_then_text_edits_it_and_text_continues(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        picture = photo()
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=picture)
            ack = await bot.reply_to(sent, "sendMessage")
            assert "Now tell me what to do" in ack.params["text"]
            assert gemini.requests == []
            first = tg.send_user_message(chat, alice, text="add a red hat")
            await bot.reply_to(first)
            second = tg.send_user_message(chat, alice, text="now make it night")
            await bot.reply_to(second)
            tg.send_user_message(chat, alice, text="/new")
            await tg.wait_for_call("sendMessage", count=2)
            third = tg.send_user_message(chat, alice, text="a banana on the moon")
            await bot.reply_to(third)
    assert user_parts(gemini, 0) == [[(None, picture), ("add a red hat", None)]]
    assert [c.role for c in gemini.requests[1].contents] == ["user", "model", "user"]
    assert user_parts(gemini, 1)[2] == [("now make it night", None)]
    assert user_parts(gemini, 2) == [[("a banana on the moon", None)]]


async def test_reply_to_an_older_result_branches_and_survives_restart(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg, max_input_images=14)
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            result_1 = bot.posted(await bot.reply_to(sent))
            refine = tg.send_user_message(chat, alice, text="add a hat")
            await bot.reply_to(refine)
        # Restart in the middle of the lineage.
        async with running_bot(tg, settings) as bot:
            branch = tg.send_user_message(chat, alice, text="make it red", reply_to=result_1)
            result_3 = bot.posted(await bot.reply_to(branch))
            # Retry on the branch's result, pressed after the restart: a sibling answer.
            tg.press_button(chat, alice, result_3, button(result_3, "Retry"))
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 4, timeout=15)
            assert tg.calls_of("answerCallbackQuery")
    r1, r2, r3, r4 = gemini.requests
    assert [c.role for c in r2.contents] == ["user", "model", "user"]
    # The branch sees result 1, not result 2.
    assert [c.role for c in r3.contents] == ["user", "model", "user"]
    assert r3.contents[1].parts[-1].image == r1.result_image
    assert r3.contents[2].parts[0].text == "make it red"
    assert r4.contents == r3.contents  # Retry: same user turn, answered again


async def test_original_button_sends_the_lossless_png(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            result = bot.posted(await bot.reply_to(sent))
            tg.press_button(chat, alice, result, button(result, "Original"))
            document = await tg.wait_for_call("sendDocument")
    assert document.upload("document") == gemini.requests[0].result_image
    assert document.file_meta["document"][0].endswith(".png")


async def test_reply_with_a_new_photo_to_a_result_is_a_two_image_turn(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        hat = photo((250, 0, 0), (40, 40))
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            result = bot.posted(await bot.reply_to(sent))
            combo = tg.send_user_message(
                chat, alice, photo=hat, caption="put this hat on her", reply_to=result
            )
            await bot.reply_to(combo)
    last = gemini.requests[1]
    assert [c.role for c in last.contents] == ["user", "model", "user"]
    assert [(p.text, p.image) for p in last.contents[2].parts] == [
        (None, hat),
        ("put this hat on her", None),
    ]


async def test_album_is_one_multi_image_turn_with_the_caption_on_any_item(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    pictures = [photo((i * 60, 10, 10), (30 + i, 30)) for i in range(4)]
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            items = tg.send_album(chat, alice, pictures, caption="combine them", caption_index=2)
            call = await bot.reply_to(items[2])
            # Replies to any item of the album continue its lineage.
            follow = tg.send_user_message(chat, alice, text="warmer", reply_to=items[0])
            await bot.reply_to(follow)
    assert len(gemini.requests) == 2
    first = gemini.requests[0]
    # 2.5 Flash Image takes 3 images: the first three are used, and the caption says so.
    assert first.images == pictures[:3]
    assert "used 3 of 4" in call.params["caption"]


async def test_failures_are_explained_with_retry_where_it_helps(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    gemini.script(Reply.finish("IMAGE_SAFETY"))
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            failure = await bot.reply_to(sent, "sendMessage")
            assert "safety" in failure.params["text"]
            assert failure.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Retry"
            big = tg.send_user_message(
                chat, alice, document=b"x", document_size_override=25 * 1024 * 1024
            )
            refused = await bot.reply_to(big, "sendMessage")
            assert "too large" in refused.params["text"]
            pdf = tg.send_user_message(
                chat,
                alice,
                document=b"%PDF-1.4",
                document_mime="application/pdf",
                document_name="a.pdf",
            )
            not_image = await bot.reply_to(pdf, "sendMessage")
            assert "not an image" in not_image.params["text"]
    assert tg.calls_of("getFile") == [tg.calls_of("getFile")[0]]  # only the good photo
    assert len(gemini.requests) == 1


async def test_chinese_user_gets_chinese_replies(tmp_path: Path, gemini: GeminiFake) -> None:
    gemini.script(Reply.finish("IMAGE_SAFETY"))
    async with TelegramFake() as tg:
        li = tg.user(2, "Li", language_code="zh-hans")
        chat = tg.private_chat(li)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, li, photo=photo(), caption="变成蓝色")
            failure = await bot.reply_to(sent, "sendMessage")
    assert "安全" in failure.params["text"]
    assert failure.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "重试"


async def test_long_model_text_continues_in_a_follow_up(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    story = "word " * 400  # 2000 characters: over the 1024 caption limit
    gemini.script(Reply.image(text=story))
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            photo_call = await bot.reply_to(sent)
            rest = await bot.reply_to(bot.posted(photo_call), "sendMessage")
    assert len(photo_call.params["caption"]) <= 1024
    joined = photo_call.params["caption"] + " " + rest.params["text"]
    assert joined.split() == story.split()

"""GIFs: Telegram delivers them as MP4 animations; the bot edits their still frame."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings


def jpeg_still(size: tuple[int, int] = (320, 180)) -> bytes:
    """A JPEG like the thumbnail Telegram makes for an animation."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (240, 200, 30)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


async def test_a_gif_is_edited_from_its_still_frame_with_a_note(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    still = jpeg_still()
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        wang = tg.user(2, "Wang", language_code="zh-hans")
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            gif = tg.send_animation(
                tg.private_chat(alice), alice, thumbnail=still, caption="make it blue"
            )
            assert gif["document"]["mime_type"] == "video/mp4"  # as Telegram sends a GIF
            answer = await bot.reply_to(gif)
            chat_zh = tg.private_chat(wang)
            gif_zh = tg.send_animation(chat_zh, wang, thumbnail=still, caption="变成蓝色")
            answer_zh = await bot.reply_to(gif_zh)
    assert gemini.requests[0].images == [still]
    assert "I used a still frame of your GIF." in answer.params["caption"]
    assert "GIF" in answer_zh.params["caption"] and "静态" in answer_zh.params["caption"]
    # Only the still was fetched, never the MP4.
    fetched = [c.params["file_id"] for c in tg.calls_of("getFile")]
    assert fetched == [m["animation"]["thumbnail"]["file_id"] for m in (gif, gif_zh)]


async def test_a_gif_without_a_still_is_refused_with_what_works(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            gif = tg.send_animation(chat, alice, thumbnail=None, caption="make it blue")
            refusal = (await bot.reply_to(gif, "sendMessage")).params["text"]
    assert "animation" in refusal
    assert "JPEG, PNG, WebP or HEIC" in refusal
    assert "GIF picture" not in refusal  # it must not ask for what was just sent
    assert gemini.requests == []
    assert tg.calls_of("getFile") == []


async def test_a_gif_alone_waits_for_the_instruction_and_says_it_took_a_still(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    still = jpeg_still((240, 240))
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            gif = tg.send_animation(chat, alice, thumbnail=still)
            held = (await bot.reply_to(gif, "sendMessage")).params["text"]
            instruction = tg.send_user_message(chat, alice, text="make it blue")
            await bot.reply_to(instruction)
    assert held.startswith("Got your picture.")
    assert held.endswith("I used a still frame of your GIF.")
    assert gemini.requests[0].images == [still]

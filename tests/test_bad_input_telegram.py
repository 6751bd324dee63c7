"""Bad and odd files sent through Telegram: a clear reply, or a sane image for the model.

Files go as documents (Telegram leaves those untouched, unlike photos), so the bot sees the
exact bytes a user had.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests import nasty_images as nasty
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings

REFUSED: list[tuple[str, Callable[[], bytes], str]] = [
    ("truncated.jpg", nasty.truncated_jpeg, "damaged or incomplete"),
    ("empty.png", nasty.empty, "That file is empty."),
    ("page.png", nasty.html_named_png, "not an image I can read"),
    ("drawing.png", nasty.svg, "format is not supported"),
    ("bomb.png", lambda: nasty.png_header_only(30000, 30000), "too large in pixels"),
    ("strip.png", nasty.strip_png, "unusable shape"),
]


@pytest.mark.parametrize(("name", "make", "reply"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_refused_files_get_a_clear_reply_and_never_reach_the_model(
    tmp_path: Path, gemini: GeminiFake, name: str, make: Callable[[], bytes], reply: str
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(
                chat, alice, document=make(), document_name=name, caption="make it blue"
            )
            answer = await bot.reply_to(sent, "sendMessage")
    assert reply in answer.params["text"]
    assert gemini.requests == []


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


ACCEPTED: list[tuple[str, Callable[[], bytes], str]] = [
    ("anim.gif", nasty.animated_gif, "image/gif"),
    ("anim.webp", nasty.animated_webp, "image/webp"),
    ("cmyk.jpg", nasty.cmyk_jpeg, "image/jpeg"),
    ("gray16.png", nasty.gray16_png, "image/png"),
    ("palette.png", nasty.palette_png_with_transparency, "image/png"),
    ("rotated.jpg", nasty.exif_rotated_jpeg, "image/jpeg"),
]


@pytest.mark.parametrize(("name", "make", "mime"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
async def test_odd_files_reach_the_model_normalized(
    tmp_path: Path, gemini: GeminiFake, name: str, make: Callable[[], bytes], mime: str
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(
                chat,
                alice,
                document=make(),
                document_mime=mime,
                document_name=name,
                caption="make it blue",
            )
            call = await bot.reply_to(sent)
    (sent_image,) = gemini.requests[0].images
    part = gemini.requests[0].contents[0].parts[0]
    image = decoded(sent_image)
    assert part.mime_type in {"image/jpeg", "image/png", "image/webp"}
    assert image.mode in {"RGB", "RGBA", "L", "LA"}
    if name.startswith("anim"):
        red, green, blue = image.convert("RGB").getpixel((5, 5))
        assert red > 240 and green < 20 and blue < 20  # the first frame (red), maybe as JPEG
        assert "first frame" in call.params["caption"]
    if name == "rotated.jpg":
        # Stored 400x200 with orientation 6: upright it is 200x400, red corner top-right.
        assert image.size == (200, 400)
        red, green, blue = image.convert("RGB").getpixel((190, 10))
        assert red > 200 and blue < 60
    if name == "palette.png":
        assert image.mode in {"RGBA", "LA"}


@pytest.mark.skipif(not nasty.heic_encoder_available(), reason="no HEIC encoder in pillow-heif")
async def test_heic_is_converted(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(
                chat,
                alice,
                document=nasty.heic(),
                document_mime="image/heic",
                document_name="photo.heic",
                caption="make it blue",
            )
            await bot.reply_to(sent)
    assert gemini.requests[0].contents[0].parts[0].mime_type == "image/jpeg"
    assert decoded(gemini.requests[0].images[0]).size == (320, 240)

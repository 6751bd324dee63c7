"""Bad input gets a clear, localized reply and never reaches the model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import open_engine
from bot.outcome import FailureKind
from bot.request import Author, ImageSource
from tests import nasty_images as nasty
from tests.conftest import RecordingOutbox, make_settings, request
from tests.fakes.gemini import GeminiFake

ZH_USER = Author("li", "Li", "zh-hans")


@pytest.mark.parametrize(
    ("make", "english", "chinese"),
    [
        (nasty.empty, "That file is empty.", "文件是空的"),
        (nasty.truncated_jpeg, "damaged or incomplete", "已损坏"),
        (nasty.html_named_png, "not an image I can read", "无法识别"),
        (nasty.svg, "format is not supported", "不支持"),
        (lambda: nasty.png_header_only(30000, 30000), "too large in pixels", "像素过多"),
        (nasty.strip_png, "unusable shape", "尺寸不可用"),
    ],
)
async def test_bad_files_never_reach_the_model(
    tmp_path: Path,
    gemini: GeminiFake,
    make: Callable[[], bytes],
    english: str,
    chinese: str,
) -> None:
    data = make()
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("make it blue", data), outbox)
        assert outbox.failure.kind is FailureKind.INPUT
        assert english in outbox.failure.message
        await engine.handle(request("变成蓝色", data, author=ZH_USER), outbox)
        assert chinese in outbox.failure.message
        # Nothing was stored that a later reply could continue from.
        assert outbox.failure.user_turn_id is None
    assert gemini.requests == []


async def test_file_over_the_size_limit_is_refused_before_download(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    fetched = []

    async def fetch() -> bytes:
        fetched.append(True)
        return b""

    big = ImageSource(fetch, declared_size=25 * 1024 * 1024, mime_type="image/jpeg")
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        req = request("make it blue")
        await engine.handle(dataclasses.replace(req, images=(big,)), outbox)
    assert "too large (25.0 MB" in outbox.failure.message
    assert fetched == []
    assert gemini.requests == []


async def test_over_long_instruction(tmp_path: Path, gemini: GeminiFake) -> None:
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("x" * 10_000, nasty.normal_jpeg()), outbox)
    assert "too long (10000 characters; the limit is 4000)" in outbox.failure.message
    assert gemini.requests == []


@pytest.mark.parametrize(
    "instruction",
    [
        "make it 🍌 yellow 👍🏽",
        "اجعلها زرقاء",  # RTL
        "zero\u200bwidth\u200djoiner\ufeff",
        "**bold** <b>html</b> [link](http://x) `code` _x_ &amp; {text}",
    ],
)
async def test_odd_instructions_reach_the_model_verbatim(
    tmp_path: Path, gemini: GeminiFake, instruction: str
) -> None:
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request(instruction, nasty.normal_jpeg()), outbox)
    assert outbox.success.images
    assert gemini.requests[0].contents[0].parts[-1].text == instruction.strip()


async def test_animated_gif_uses_first_frame_and_says_so(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("make it blue", nasty.animated_gif()), outbox)
    assert any("first frame" in note for note in outbox.success.notes)
    sent = gemini.requests[0].contents[0].parts[0]
    assert sent.mime_type in {"image/png", "image/jpeg"}


async def test_good_jpeg_is_sent_byte_identical(tmp_path: Path, gemini: GeminiFake) -> None:
    data = nasty.normal_jpeg()
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("make it blue", data), outbox)
    assert gemini.requests[0].images == [data]


async def test_too_many_images_are_trimmed_with_a_note(tmp_path: Path, gemini: GeminiFake) -> None:
    images = [nasty.encode(nasty.photo(64, 64, seed=i), "JPEG") for i in range(5)]
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("combine", *images), outbox)
    assert gemini.requests[0].images == images[:3]
    assert "used 3 of 5" in outbox.success.notes[0]


async def test_picture_without_instruction_waits_for_the_next_message(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    data = nasty.normal_jpeg()
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("", data), outbox)
        assert outbox.failure.kind is FailureKind.NEED_INSTRUCTION
        assert gemini.requests == []
        await engine.handle(request("make it blue", continue_latest=True), outbox)
    assert gemini.requests[0].contents[0].parts[0].image == data
    assert gemini.requests[0].contents[0].parts[1].text == "make it blue"

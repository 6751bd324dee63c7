"""The Discord adapter's pure helpers: attachments, mentions, names, sizes, previews, strings."""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any

import pytest
from PIL import Image

from adapters.discord.parsing import (
    Incoming,
    mentions_bot,
    plan_message,
    thread_name,
    without_bot_mention,
)
from adapters.discord.posts import human_size
from bot.preview import jpeg_preview

BOT = 1234


PLAIN = Incoming(
    text="make it blue",
    images=(),
    reference_id=None,
    mentioned=False,
    direct=False,
    own_thread=False,
)


def incoming(**changes: Any) -> Incoming:
    return dataclasses.replace(PLAIN, **changes)


def test_a_reply_to_a_result_continues_exactly_from_it() -> None:
    plan = plan_message(incoming(reference_id=99), reference_linked=True)
    assert plan is not None
    assert (plan.reply_to, plan.continue_latest, plan.new_lineage) == ("99", False, False)


def test_a_reply_to_something_else_needs_a_mention_and_then_borrows_its_pictures() -> None:
    assert plan_message(incoming(reference_id=99), reference_linked=False) is None
    plan = plan_message(incoming(reference_id=99, mentioned=True), reference_linked=False)
    assert plan is not None
    assert plan.borrow_images and plan.new_lineage


def test_plain_text_continues_in_dms_and_own_threads_and_imagines_elsewhere() -> None:
    for where in ({"direct": True}, {"mentioned": True, "own_thread": True}):
        plan = plan_message(incoming(**where), reference_linked=False)
        assert plan is not None
        assert plan.continue_latest
    plan = plan_message(incoming(mentioned=True), reference_linked=False)
    assert plan is not None
    assert plan.new_lineage


def test_mentions_count_only_when_written_not_as_a_reply_ping() -> None:
    assert mentions_bot(f"<@{BOT}> hi", BOT)
    assert mentions_bot(f"hi <@!{BOT}>", BOT)
    assert not mentions_bot("<@12345> hi", BOT)
    assert without_bot_mention(f"<@{BOT}> make it\nblue ", BOT) == "make it\nblue"


def test_thread_names_are_short_excerpts() -> None:
    assert thread_name("  a   red\ncar ") == "a red car"
    assert len(thread_name("word " * 50)) == 60
    assert thread_name("word " * 50).endswith("…")
    assert thread_name("") == "Image edit"


@pytest.mark.parametrize(
    ("size", "shown"),
    [(10 * 1024 * 1024, "10 MB"), (int(10.8 * 1024 * 1024), "10.8 MB"), (200 * 1024, "200 KB")],
)
def test_sizes_read_like_people_write_them(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_a_transparent_png_preview_is_a_jpeg_on_white_within_the_limit() -> None:
    image = Image.frombytes("RGBA", (300, 300), os.urandom(300 * 300 * 4))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    preview = jpeg_preview(buf.getvalue(), 40_000)
    assert preview is not None
    assert len(preview) <= 40_000
    with Image.open(io.BytesIO(preview)) as shown:
        assert shown.format == "JPEG"
        assert shown.mode == "RGB"


def test_no_preview_when_even_a_thumbnail_is_too_large() -> None:
    image = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    assert jpeg_preview(buf.getvalue(), 500) is None

"""Splitting long model text for platform limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.textsplit import split_text


def test_short_text_is_one_chunk() -> None:
    assert split_text("  hello  ", 10) == ["hello"]
    assert split_text("", 10) == []


def test_prefers_line_then_word_boundaries() -> None:
    text = "first line\nsecond line is longer"
    assert split_text(text, 15) == ["first line", "second line is", "longer"]


def test_first_chunk_may_have_its_own_limit() -> None:
    chunks = split_text("aaaa bbbb cccc dddd", 100, first_limit=9)
    assert chunks == ["aaaa bbbb", "cccc dddd"]


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=4, max_value=500))
def test_chunks_respect_the_limit_and_keep_every_visible_character(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())

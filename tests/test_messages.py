"""The catalog words counts right in every language."""

from __future__ import annotations

import pytest

from adapters.discord import catalog as discord_catalog
from adapters.telegram import catalog as telegram_catalog
from bot import messages


@pytest.mark.parametrize(
    ("key", "params", "one", "many"),
    [
        ("quota_user", {"hours": 3, "minutes": 5}, "your 1 image for today", "your 2 images"),
        ("quota_chat", {"hours": 3, "minutes": 5}, "its 1 image for today", "its 2 images"),
        ("quota_inflight", {}, "have 1 request running", "have 2 requests running"),
        ("usage_user", {"used": 0, "tokens": 0}, "0 of 1 image (", "0 of 2 images ("),
        ("usage_pool", {"used": 0}, "0 of 1 image.", "0 of 2 images."),
        ("done_note_images_used", {"used": 1, "given": 3}, "1 image at most", "2 images at"),
    ],
)
def test_english_counts_agree_with_their_nouns(
    key: str, params: dict[str, object], one: str, many: str
) -> None:
    assert one in messages.text(key, "en", limit=1, **params)
    assert many in messages.text(key, "en", limit=2, **params)


def test_counts_named_by_other_parameters() -> None:
    assert messages.text("forget_done", "en", count=1) == "Done: 1 turn deleted."
    assert messages.text("forget_done", "en", count=0) == "Done: 0 turns deleted."
    assert "made 1 image (" in messages.text("usage_user_free", "en", used=1, tokens=9)


def test_chinese_has_one_form_for_every_count() -> None:
    one = messages.text("quota_user", "zh-CN", limit=1, hours=1, minutes=2)
    many = messages.text("quota_user", "zh-CN", limit=2, hours=1, minutes=2)
    assert one.replace("1", "2", 1) == many


def sections() -> list[messages.Catalog]:
    """Every section of the one catalog: the core's and each adapter's."""
    return [messages.CORE, telegram_catalog.CATALOG, discord_catalog.CATALOG]


@pytest.mark.parametrize("section", sections(), ids=lambda c: c.name)
def test_every_key_exists_in_english_and_simplified_chinese(section: messages.Catalog) -> None:
    english, chinese = section.keys(messages.EN), section.keys(messages.ZH)
    assert not english - chinese, f"missing in zh-Hans: {sorted(english - chinese)}"
    assert not chinese - english, f"missing in en: {sorted(chinese - english)}"


def test_a_section_falls_back_to_english_then_to_the_core() -> None:
    section = messages.CORE.extend(
        "test", {messages.EN: {"hello": "Hello {name}"}, messages.ZH: {}}
    )
    assert section.text("hello", "zh-CN", name="Li") == "Hello Li"
    assert section.text("retry_button", "zh-CN") == "重试"
    with pytest.raises(KeyError, match="nope"):
        section.text("nope", "en")

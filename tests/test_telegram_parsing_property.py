"""Arbitrary Telegram messages: parsing gives a decision, never an exception."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot, Message

from adapters.telegram.parsing import Action, parse_message

BOT_ID = 999
USERNAME = "banana_bot"
BOT = Bot("999:TEST")

texts = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.sampled_from(
        [
            "/edit make it 🍌",
            "/edit@banana_bot  ",
            "/edit@other_bot x",
            "/imagine",
            "@banana_bot 🦊 fox",
            "/settings",
            "/unknown",
            "/forget",
            "\u200b\u202e/edit",
        ]
    ),
)
entity_types = st.sampled_from(["bot_command", "mention", "text_mention", "bold", "url"])
users = st.fixed_dictionaries(
    {"id": st.sampled_from([1, 2, BOT_ID]), "is_bot": st.booleans(), "first_name": st.just("U")},
    optional={"language_code": st.sampled_from(["en", "zh-hans", "", "xx"])},
)
entities = st.lists(
    st.fixed_dictionaries(
        {
            "type": entity_types,
            "offset": st.integers(min_value=-2, max_value=80),
            "length": st.integers(min_value=0, max_value=80),
        },
        optional={"user": users},
    ),
    max_size=3,
)
photo_sizes = st.lists(
    st.fixed_dictionaries(
        {
            "file_id": st.text(min_size=1, max_size=8),
            "file_unique_id": st.just("u"),
            "width": st.integers(0, 5000),
            "height": st.integers(0, 5000),
        },
        optional={"file_size": st.integers(0, 50_000_000)},
    ),
    max_size=3,
)
documents = st.fixed_dictionaries(
    {"file_id": st.just("d"), "file_unique_id": st.just("u")},
    optional={
        "mime_type": st.sampled_from(["image/png", "application/pdf", "image/", ""]),
        "file_size": st.integers(0, 50_000_000),
    },
)
chats = st.fixed_dictionaries(
    {
        "id": st.sampled_from([1, -100, -200]),
        "type": st.sampled_from(["private", "group", "supergroup"]),
    },
    optional={"is_forum": st.booleans()},
)


def message_strategy(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        "from": users,
        "text": texts,
        "caption": texts,
        "entities": entities,
        "caption_entities": entities,
        "photo": photo_sizes,
        "document": documents,
        "media_group_id": st.sampled_from(["g1", "g2"]),
        "message_thread_id": st.integers(1, 5),
        "is_topic_message": st.booleans(),
        "forum_topic_created": st.just({"name": "t", "icon_color": 1}),
    }
    if depth > 0:
        optional["reply_to_message"] = message_strategy(depth - 1)
    return st.fixed_dictionaries(
        {"message_id": st.integers(1, 10), "date": st.just(0), "chat": chats}, optional=optional
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message_strategy())
def test_any_message_parses_to_a_decision(data: dict[str, Any]) -> None:
    message = Message.de_json({k: v for k, v in data.items() if v is not None}, BOT)
    parsed = parse_message(message, BOT_ID, USERNAME)
    assert isinstance(parsed.action, Action)
    if parsed.action is Action.IGNORE:
        assert parsed.images == ()
    if parsed.action is Action.EDIT:
        assert parsed.text == parsed.text.strip()
        if message.chat.type != "private":
            # In groups only what is addressed to the bot is handled.
            mentions = message.entities if message.text else message.caption_entities
            text_mention = any(e.user and e.user.id == BOT_ID for e in mentions or ())
            said = "banana_bot" in (message.text or message.caption or "")
            assert parsed.reply_is_bot or said or text_mention
    if parsed.reply_id is not None:
        assert message.reply_to_message is not None
        assert message.reply_to_message.forum_topic_created is None
    for image in parsed.images + parsed.reply_images:
        assert image.file_id

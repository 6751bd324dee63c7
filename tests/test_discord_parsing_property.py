"""Arbitrary Discord messages: reading and planning give a decision, never an exception.

Messages are real `discord.Message` objects built from gateway-shaped payloads, as the
client builds them from MESSAGE_CREATE.
"""

from __future__ import annotations

from typing import Any

import discord
from discord.state import ConnectionState
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord.parsing import attachments_of, is_image, plan_message, read_message

BOT_ID = 999


def _state() -> tuple[ConnectionState, discord.DMChannel]:
    state = ConnectionState(
        dispatch=lambda *args: None,
        handlers={},
        hooks={},
        http=None,  # type: ignore[arg-type] - parsing never touches the network
        intents=discord.Intents.default(),
    )
    me = discord.ClientUser(
        state=state,
        data={"id": BOT_ID, "username": "bb", "discriminator": "0", "avatar": None, "bot": True},
    )
    state.user = me
    dm = discord.DMChannel(
        me=me,
        state=state,
        data={
            "id": 5,
            "type": 1,
            "recipients": [{"id": 1, "username": "u", "discriminator": "0", "avatar": None}],
        },
    )
    return state, dm


STATE, DM = _state()

contents = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            f"<@{BOT_ID}> make it blue",
            f"<@!{BOT_ID}>",
            f"make it <@{BOT_ID}> 🍌",
            "<@123> hello",
            "**bold** `code` @everyone",
        ]
    ),
)
attachments = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 10**6),
            "filename": st.sampled_from(["a.png", "b.JPG", "c.txt", "noext", "d.heic", ""]),
            "size": st.integers(0, 200 * 1024 * 1024),
            "url": st.just("http://127.0.0.1/x"),
            "proxy_url": st.just("http://127.0.0.1/x"),
        },
        optional={
            "content_type": st.sampled_from(["image/png", "image/webp", "text/plain", "image/"]),
            "width": st.integers(0, 9000),
            "height": st.integers(0, 9000),
        },
    ),
    max_size=4,
)
references = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"message_id": st.integers(1, 50), "channel_id": st.just(5)},
        optional={"type": st.sampled_from([0, 1])},
    ),
)


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": draw(st.integers(1, 10**9)),
        "channel_id": 5,
        "author": {
            "id": draw(st.sampled_from([1, 2, BOT_ID])),
            "username": "u",
            "discriminator": "0",
            "avatar": None,
            "bot": draw(st.booleans()),
        },
        "content": draw(contents),
        "attachments": draw(attachments),
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "type": draw(st.sampled_from([0, 19, 7, 20])),
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "components": [],
    }
    reference = draw(references)
    if reference is not None:
        data["message_reference"] = reference
    if draw(st.booleans()):
        data["webhook_id"] = 77
    if draw(st.booleans()):  # a forward: the files travel in the snapshot
        snapshot = {
            "type": 0,
            "content": draw(contents),
            "embeds": [],
            "attachments": draw(attachments),
            "timestamp": "2025-12-31T00:00:00+00:00",
            "edited_timestamp": None,
            "flags": 0,
        }
        data["message_snapshots"] = [{"message": snapshot}]
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads(), st.booleans())
def test_any_message_is_read_and_planned_without_exceptions(
    data: dict[str, Any], linked: bool
) -> None:
    message = discord.Message(state=STATE, channel=DM, data=data)  # type: ignore[arg-type]
    incoming = read_message(message, BOT_ID)
    if incoming is None:
        return
    assert not message.author.bot
    files = attachments_of(message)
    assert set(incoming.images) | set(incoming.other_files) == set(files)
    assert all(is_image(a) for a in incoming.images)
    plan = plan_message(incoming, reference_linked=linked)
    if plan is None:
        return
    if incoming.other_files:
        assert plan.refuse_files  # never a text-to-image request, never a silent skip
        return
    if plan.reply_to is not None:
        assert plan.reply_to == str(incoming.reference_id)
        assert plan.borrow_images != plan.linked  # a linked reply continues; others borrow
    assert incoming.text or incoming.images or plan.borrow_images or plan.reply_to

"""Messages: mentions start lineages, replies continue them (branching), DMs chat along."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.discord_harness import (
    Json,
    attachment_bytes,
    bot_messages,
    bot_settings,
    button_ids,
    png,
    result_button_ids,
    serving,
    texts_of,
    until_linked,
)
from tests.fakes.discord import INTENT_MESSAGE_CONTENT, DiscordFake, now_iso
from tests.fakes.gemini import GeminiFake


def replied_to(message: Json) -> str | None:
    reference: dict[str, Any] = message.get("message_reference") or {}
    return reference.get("message_id")


async def test_a_reply_chain_three_deep_with_a_branch_sends_exactly_the_path(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    photo = png((120, 60, 30))
    channel = dc.channel_id
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        start = await dc.user_message(
            content="make it red",
            attachments=[dc.add_attachment(photo, "dog.png")],
            mentions_bot=True,
        )
        [r1] = await bot_messages(dc, channel, 1)
        await until_linked(engine, channel, r1)
        hat = await dc.user_message(content="add a hat", reply_to=r1)
        [_, r2] = await bot_messages(dc, channel, 2)
        await until_linked(engine, channel, r2)
        await dc.user_message(content="make it night", reply_to=r2)
        [*_, r3] = await bot_messages(dc, channel, 3)
        await until_linked(engine, channel, r3)
        await dc.user_message(content="add glasses", reply_to=r1)  # branch from the first
        [*_, r4] = await bot_messages(dc, channel, 4)
        await until_linked(engine, channel, r4)

    first, second, third, branch = gemini.requests
    assert texts_of(first) == [("user", ["make it red"])]
    assert first.images == [photo]
    assert texts_of(third) == [
        ("user", ["make it red"]),
        ("model", ["Here is your edited image."]),
        ("user", ["add a hat"]),
        ("model", ["Here is your edited image."]),
        ("user", ["make it night"]),
    ]
    assert third.images == [photo, first.result_image, second.result_image]
    assert texts_of(branch) == [
        ("user", ["make it red"]),
        ("model", ["Here is your edited image."]),
        ("user", ["add glasses"]),
    ]
    assert branch.images == [photo, first.result_image]
    # Every answer is a reply to the message that asked, with its result and buttons.
    assert replied_to(r1) == start["id"]
    assert replied_to(r2) == hat["id"]
    assert attachment_bytes(dc, r4) == [branch.result_image]
    assert button_ids(r4) == result_button_ids(8)
    assert dc.calls_to("POST", rf"^/channels/{channel}/typing$")


async def test_plain_chatter_and_unlinked_replies_are_ignored_without_downloads(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        photo = dc.add_attachment(png(), "holiday.png")
        chatter = await dc.user_message(content="look at this", attachments=[photo])
        await dc.user_message(content="nice!", reply_to=chatter)
        wanted = dc.add_attachment(png((0, 0, 90)), "wanted.png")
        await dc.user_message(content="edit me", attachments=[wanted], mentions_bot=True)
        await bot_messages(dc, dc.channel_id, 1, with_files=True)

    assert len(gemini.requests) == 1
    assert [url.split("?")[0].rsplit("/", 1)[1] for url in dc.cdn_downloads] == ["wanted.png"]


async def test_mentioning_the_bot_in_a_reply_to_a_photo_edits_that_photo(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    photo = png((0, 150, 150))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        someone = await dc.user_message(
            content="my garden", attachments=[dc.add_attachment(photo, "garden.png")]
        )
        # Discord may leave `referenced_message` out; the bot then fetches the message.
        reply = dict(someone)
        reply.update(
            id=str(dc.snowflake()),
            content=f"<@{dc.application_id}> add flowers",
            attachments=[],
            mentions=[dict(dc.bot_user)],
            type=19,
            timestamp=now_iso(),
            message_reference={
                "type": 0,
                "message_id": someone["id"],
                "channel_id": someone["channel_id"],
                "guild_id": someone["guild_id"],
            },
        )
        await dc.dispatch("MESSAGE_CREATE", reply)
        [answer] = await bot_messages(dc, dc.channel_id, 1)

    [request] = gemini.requests
    assert request.images == [photo]
    assert texts_of(request) == [("user", ["add flowers"])]
    assert dc.calls_to("GET", rf"^/channels/{dc.channel_id}/messages/{someone['id']}$")
    assert attachment_bytes(dc, answer) == [request.result_image]


async def test_a_reply_with_a_picture_to_someones_photo_uses_both_in_that_order(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    """The same rule as on Telegram: the replied pictures first, then the user's own."""
    garden, hat = png((0, 150, 150)), png((150, 0, 150))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        someone = await dc.user_message(
            content="my garden", attachments=[dc.add_attachment(garden, "garden.png")]
        )
        await dc.user_message(
            content="put this hat on the gnome",
            attachments=[dc.add_attachment(hat, "hat.png")],
            reply_to=someone,
            mentions_bot=True,
        )
        await bot_messages(dc, dc.channel_id, 1, with_files=True)

    [request] = gemini.requests
    assert request.images == [garden, hat]
    assert texts_of(request) == [("user", ["put this hat on the gnome"])]


async def test_in_a_dm_pictures_start_and_plain_text_continues_the_latest_result(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    photo = png((90, 90, 0))
    dm = dc.dm_channel_id
    async with serving(bot_settings(tmp_path / "data", gemini, dc, auto_thread=True)) as engine:
        await dc.user_message(
            dm,
            content="make it pop",
            attachments=[dc.add_attachment(photo, "a.png", channel_id=dm)],
        )
        [first] = await bot_messages(dc, dm, 1)
        await until_linked(engine, dm, first)
        await dc.user_message(dm, content="more contrast")
        await bot_messages(dc, dm, 2)

    one, two = gemini.requests
    assert one.images == [photo]
    assert texts_of(two) == [
        ("user", ["make it pop"]),
        ("model", ["Here is your edited image."]),
        ("user", ["more contrast"]),
    ]
    assert dc.calls_to("POST", r"/threads$") == []  # never a thread in a DM


async def test_without_the_message_content_intent_replies_that_ping_still_work(
    tmp_path: Path,
    gemini: GeminiFake,
    dc: DiscordFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = bot_settings(tmp_path / "data", gemini, dc, message_content_intent=False)
    async with serving(settings) as engine:
        inter = await dc.slash_command("imagine", {"prompt": "a lighthouse"})
        [result] = await dc.wait_for_followup(inter)
        await until_linked(engine, dc.channel_id, result)
        await dc.user_message(content="quietly: add fog", reply_to=result, reply_ping=False)
        await dc.user_message(content="add a storm", reply_to=result)
        [_, answer] = await bot_messages(dc, dc.channel_id, 2, with_files=True)

    assert dc.identified_intents is not None
    assert not dc.identified_intents & INTENT_MESSAGE_CONTENT
    assert any("message_content_intent is false" in r.message for r in caplog.records)
    _, second = gemini.requests
    assert texts_of(second)[-1] == ("user", ["add a storm"])
    assert attachment_bytes(dc, answer) == [second.result_image]
    assert all("add fog" not in str(r.raw) for r in gemini.requests)


async def test_without_attach_files_permission_the_bot_says_what_it_misses(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        dc.fail_next("POST", rf"^/channels/{dc.channel_id}/messages$", status=403)
        await dc.user_message(
            content="sharpen", attachments=[dc.add_attachment(png(), "a.png")], mentions_bot=True
        )
        [note] = await bot_messages(dc, dc.channel_id, 1)

    assert "I am missing permissions in this channel" in note["content"]
    assert "Attach Files" in note["content"]
    posts = dc.calls_to("POST", rf"^/channels/{dc.channel_id}/messages$")
    assert [c.status for c in posts] == [403, 200]

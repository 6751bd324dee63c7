"""Discord platform faults seen through the adapter: rate limits, events it cannot parse."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.discord_harness import (
    attachment_bytes,
    bot_messages,
    bot_settings,
    ephemeral_answer,
    png,
    serving,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake


async def test_rate_limited_follow_up_is_retried_and_the_result_arrives(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dc.fail_next("POST", r"^/webhooks/", status=429, retry_after=0.05)
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command(
            "edit", {"image": dc.add_attachment(png(), "cat.png"), "prompt": "make it blue"}
        )
        [result] = await dc.wait_for_followup(inter)
    statuses = [c.status for c in dc.calls_to("POST", r"^/webhooks/")]
    assert statuses[:2] == [429, 200]
    assert attachment_bytes(dc, result) == [gemini.requests[0].result_image]


async def test_events_discord_py_cannot_parse_are_skipped_and_the_bot_keeps_answering(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "my secret plans"
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        helped = await dc.slash_command("help")
        await ephemeral_answer(dc, helped)
        # 1. An interaction from a newer API shape: no `version`.
        interaction = copy.deepcopy(helped.payload)
        del interaction["version"]
        interaction.update(id=str(dc.snowflake()), token="aW50ZXJhY3Rpb24newer")
        await dc.dispatch("INTERACTION_CREATE", interaction)
        # 2. A presence update that names only the user.
        await dc.dispatch(
            "PRESENCE_UPDATE", {"user": {"id": str(dc.user_id)}, "guild_id": str(dc.guild_id)}
        )
        # 3. A forward whose snapshot leaves out a field discord.py requires.
        origin = await dc.user_message(
            content=secret, attachments=[dc.add_attachment(png(), "plan.png")]
        )
        forward = copy.deepcopy(origin)
        snapshot = {
            key: origin[key]
            for key in ("type", "content", "embeds", "attachments", "timestamp", "flags")
        }
        forward.update(
            id=str(dc.snowflake()),
            content="",
            attachments=[],
            flags=1 << 14,
            message_reference={
                "type": 1,
                "message_id": origin["id"],
                "channel_id": origin["channel_id"],
                "guild_id": origin["guild_id"],
            },
            message_snapshots=[{"message": snapshot}],
        )
        await dc.dispatch("MESSAGE_CREATE", forward)
        # 4. A voice message whose waveform is not valid base64.
        voice = dc.add_attachment(b"OggS" + bytes(64), "voice-message.ogg", "audio/ogg")
        voice.update(duration_secs=2.5, waveform="not base64!")
        await dc.user_message(dc.dm_channel_id, content="", attachments=[voice])
        # Then someone asks for an edit, as usual.
        photo = png((20, 120, 220))
        await dc.user_message(
            content="make it blue",
            attachments=[dc.add_attachment(photo, "sky.png")],
            mentions_bot=True,
        )
        [answer] = await bot_messages(dc, dc.channel_id, 1, with_files=True)

    [request] = gemini.requests
    assert request.images == [photo]
    assert attachment_bytes(dc, answer) == [request.result_image]
    skipped = [r.getMessage() for r in caplog.records if "could not parse" in r.getMessage()]
    assert [line.split(": ")[1].split()[0] for line in skipped] == [
        "INTERACTION_CREATE",
        "PRESENCE_UPDATE",
        "MESSAGE_CREATE",
        "MESSAGE_CREATE",
    ]
    assert f"id={interaction['id']}" in skipped[0]
    assert f"user_id={dc.user_id}" in skipped[1]
    assert f"id={forward['id']}" in skipped[2]
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert all(r.exc_info is None for r in caplog.records if "could not parse" in r.getMessage())

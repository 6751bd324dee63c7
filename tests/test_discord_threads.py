"""auto_thread: a new lineage in a text channel moves into its own thread and continues there."""

from __future__ import annotations

from pathlib import Path

from tests.discord_harness import (
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
from tests.fakes.discord import FLAG_EPHEMERAL, DiscordFake
from tests.fakes.gemini import GeminiFake


async def test_a_mention_with_a_picture_opens_a_thread_where_the_lineage_continues(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    photo = png((30, 30, 160))
    async with serving(bot_settings(tmp_path / "data", gemini, dc, auto_thread=True)) as engine:
        start = await dc.user_message(
            content="turn   this into\na watercolor painting of the old harbour at dawn please",
            attachments=[dc.add_attachment(photo, "harbour.png")],
            mentions_bot=True,
        )
        thread_id = int(start["id"])  # a thread started from a message has its id
        [first] = await bot_messages(dc, thread_id, 1)
        await until_linked(engine, thread_id, first)
        await dc.user_message(thread_id, content="warmer colours", reply_to=first)
        [_, second] = await bot_messages(dc, thread_id, 2)
        await until_linked(engine, thread_id, second)
        # In the bot's own thread a mention without a picture continues the latest result.
        await dc.user_message(thread_id, content="now add boats", mentions_bot=True)
        await bot_messages(dc, thread_id, 3)

    thread = dc.channel(thread_id)
    assert thread["parent_id"] == str(dc.channel_id)
    assert thread["name"] == "turn this into a watercolor painting of the old harbour at…"
    assert dc.sent_messages(dc.channel_id) == []  # nothing cluttered the channel
    assert first["content"].startswith(f"<@{dc.user_id}>")
    assert attachment_bytes(dc, first) == [gemini.requests[0].result_image]
    assert button_ids(first) == result_button_ids(2)
    third = gemini.requests[2]
    assert [t for _, t in texts_of(third)] == [
        ["turn   this into\na watercolor painting of the old harbour at dawn please"],
        ["Here is your edited image."],
        ["warmer colours"],
        ["Here is your edited image."],
        ["now add boats"],
    ]
    assert dc.calls_to("POST", rf"^/channels/{thread_id}/typing$")


async def test_imagine_opens_a_thread_from_its_response(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc, auto_thread=True)) as engine:
        inter = await dc.slash_command("imagine", {"prompt": "a *bold* castle"})
        response = await dc.wait_for(lambda: inter.original)
        thread_id = int(response["id"])
        [result] = await bot_messages(dc, thread_id, 1)
        await until_linked(engine, thread_id, result)
        # The lineage lives in the thread: a reply there continues it.
        await dc.user_message(thread_id, content="at night", reply_to=result)
        await bot_messages(dc, thread_id, 2)

    assert inter.callback_types == [5]
    assert response["content"] == "\N{SPOOL OF THREAD} a \\*bold\\* castle"
    assert dc.channel(thread_id)["parent_id"] == str(dc.channel_id)
    assert attachment_bytes(dc, result) == [gemini.requests[0].result_image]
    assert texts_of(gemini.requests[1])[0] == ("user", ["a *bold* castle"])


async def test_without_thread_permission_it_answers_in_place_and_tells_the_caller(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dc.fail_next("POST", r"/threads$", status=403)
    async with serving(bot_settings(tmp_path / "data", gemini, dc, auto_thread=True)):
        inter = await dc.slash_command("imagine", {"prompt": "a tower"})
        result, notice = await dc.wait_for_followup(inter, 2)

    assert attachment_bytes(dc, result) == [gemini.requests[0].result_image]
    assert int(notice["flags"]) & FLAG_EPHEMERAL
    assert "missing permissions" in notice["content"]
    assert "Create Public Threads" in notice["content"]

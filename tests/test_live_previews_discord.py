"""Live previews on Discord, through discord.py and the Discord fake: drafts, Stop, sources."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.config import AccessSettings
from tests.conftest import SIZED_RESULT_ACTIONS
from tests.discord_harness import (
    attachment_bytes,
    bot_messages,
    bot_settings,
    button_ids,
    button_labels,
    ephemeral_answer,
    serving,
    until_linked,
)
from tests.fakes.discord import DiscordFake, FakeInteraction
from tests.fakes.gemini import GeminiFake, Reply

THINKING = {"model": "gemini-3.1-flash-image"}
Json = dict[str, Any]


async def result_of(dc: DiscordFake, inter: FakeInteraction) -> Json:
    """The result of a slash command: the deferred answer itself when a draft took it."""

    def found() -> Json | None:
        original = inter.original
        if original is not None and "Retry" in button_labels(original):
            return original
        return inter.followups[0] if inter.followups else None

    return await dc.wait_for(found, 10)


async def test_the_deferred_answer_shows_the_draft_then_becomes_the_result(
    tmp_path: Path, dc: DiscordFake
) -> None:
    release = asyncio.Event()
    async with GeminiFake(gemini3=True) as gemini:
        gemini.script(Reply.thinking(draft_at=(0.0,), release=release))
        async with serving(bot_settings(tmp_path / "data", gemini, dc, gemini_options=THINKING)):
            inter = await dc.slash_command("imagine", {"prompt": "a lighthouse"})
            draft_edit = await dc.wait_for(
                lambda: next(
                    (
                        c
                        for c in dc.calls_to("PATCH", r"/webhooks/.+/messages/@original")
                        if c.files
                    ),
                    None,
                ),
                10,
            )
            release.set()
            await dc.wait_for(
                lambda: (
                    inter.original
                    and inter.original["attachments"]
                    and inter.original["attachments"][0]["filename"].startswith("bananabot-")
                ),
                10,
            )
    assert draft_edit.json["content"].startswith("Draft")
    assert list(draft_edit.files) == ["draft.jpg"]
    assert [c["label"] for row in draft_edit.json["components"] for c in row["components"]] == [
        "Stop"
    ]
    result = inter.original
    assert result is not None
    assert attachment_bytes(dc, result) == [gemini.requests[0].response_images[-1]]
    assert button_labels(result) == SIZED_RESULT_ACTIONS
    assert inter.followups == []  # one message: the draft became the result


async def test_stop_on_a_reply_step_turns_its_status_into_stopped(
    tmp_path: Path, dc: DiscordFake
) -> None:
    async with GeminiFake(gemini3=True) as gemini:
        gemini.script(Reply.image(), Reply.thinking(draft_at=(0.0,), hold=True))
        settings = bot_settings(tmp_path / "data", gemini, dc, gemini_options=THINKING)
        async with serving(settings) as engine:
            inter = await dc.slash_command("imagine", {"prompt": "a lighthouse"})
            result = await result_of(dc, inter)
            await until_linked(engine, inter.channel_id, result)
            await dc.user_message(inter.channel_id, content="at night", reply_to=result)
            status = dict((await bot_messages(dc, inter.channel_id, 2, with_files=True))[1])
            stranger = dc.add_user("mallory")
            refused = await dc.press_button(status, button_ids(status)[0], user=stranger)
            refusal = await ephemeral_answer(dc, refused)
            await dc.press_button(status, button_ids(status)[0])
            await gemini.wait_for(lambda: gemini.requests[1].disconnected_after is not None)
            stopped = await dc.wait_for(
                lambda: (m := dc.message(status["id"])) and m["content"] == "Stopped." and m, 10
            )
    assert status["content"].startswith("Draft")
    assert refusal["content"] == (
        "Only the person who asked, or an admin of this chat, can stop it."
    )
    assert stopped["attachments"] == []
    assert button_labels(stopped) == ["Retry"]


async def test_search_sources_are_listed_under_the_result(tmp_path: Path, dc: DiscordFake) -> None:
    async with GeminiFake(gemini3=True) as gemini:
        access = AccessSettings(admins=(str(dc.user_id),))
        settings = bot_settings(
            tmp_path / "data", gemini, dc, access=access, gemini_options=THINKING
        )
        async with serving(settings):
            changed = await dc.slash_command("settings", {"search": "on"})
            saved = await ephemeral_answer(dc, changed)
            inter = await dc.slash_command("imagine", {"prompt": "today's weather in Paris"})
            result = await result_of(dc, inter)
    assert "- Search: on" in saved["content"]
    last = result["content"].splitlines()[-1]
    assert last.startswith("-# Sources: [")
    for _, uri in gemini.grounding_sources[:5]:
        assert f"(<{uri}>)" in last
    assert gemini.grounding_sources[5][1] not in last


async def test_stop_while_queued_and_a_stream_error_after_a_draft(
    tmp_path: Path, dc: DiscordFake
) -> None:
    release = asyncio.Event()
    async with GeminiFake(gemini3=True) as gemini:
        gemini.script(
            Reply.thinking(draft_at=(0.0,), error=Reply.server_error(500), release=release)
        )
        options = {**THINKING, "max_concurrent_requests": 1, "retry_attempts": 1}
        async with serving(bot_settings(tmp_path / "data", gemini, dc, gemini_options=options)):
            first = await dc.slash_command("imagine", {"prompt": "a lighthouse"})
            await dc.wait_for(lambda: first.original and first.original["attachments"], 10)
            second = await dc.slash_command("imagine", {"prompt": "a harbour"})
            queued = await dc.wait_for(
                lambda: (
                    second.original and "queue" in second.original["content"] and second.original
                ),
                10,
            )
            queued = dict(queued)  # the fake edits its messages in place
            await dc.press_button(queued, button_ids(queued)[0])
            await dc.wait_for(lambda: second.original["content"] == "Stopped.", 10)
            release.set()
            await dc.wait_for(lambda: "Retry" in button_labels(first.original), 10)
    assert queued["content"] == "You are number 1 in the queue."
    assert button_labels(queued) == ["Stop"]
    assert button_labels(second.original) == ["Retry"]
    failed = first.original
    assert failed["content"].startswith("Gemini is unavailable")
    assert failed["attachments"] == []  # the draft is gone
    assert len(gemini.requests) == 1  # the stopped step never reached the model


async def test_with_previews_off_the_answer_is_the_result_only(
    tmp_path: Path, dc: DiscordFake
) -> None:
    async with GeminiFake(gemini3=True) as gemini:
        options = {**THINKING, "previews": False}
        async with serving(bot_settings(tmp_path / "data", gemini, dc, gemini_options=options)):
            inter = await dc.slash_command("imagine", {"prompt": "a lighthouse"})
            [result] = await dc.wait_for_followup(inter)
    assert dc.calls_to("PATCH", r"/messages/@original") == []
    assert button_labels(result) == SIZED_RESULT_ACTIONS
    assert gemini.requests[0].action == "generateContent"

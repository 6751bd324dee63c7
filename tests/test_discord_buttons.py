"""Retry and Original: persistent buttons that work after a restart, and oversized results."""

from __future__ import annotations

from pathlib import Path

from bot.config import AccessSettings
from tests.discord_harness import (
    attachment_bytes,
    bot_settings,
    button_ids,
    ephemeral_answer,
    noisy_png,
    result_button_ids,
    serving,
    texts_of,
)
from tests.fakes.discord import FLAG_EPHEMERAL, DiscordFake
from tests.fakes.gemini import GeminiFake, Reply

SMALL_LIMIT = 200 * 1024


async def test_retry_on_a_result_posted_before_a_restart(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    settings = bot_settings(tmp_path / "data", gemini, dc)
    async with serving(settings):
        inter = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
        [result] = await dc.wait_for_followup(inter)

    # A new process: new engine over the same data directory, new client, same Discord.
    async with serving(settings):
        assert dc.connected == 1
        press = await dc.press_button(result, "bb2:r:2")
        [variant] = await dc.wait_for_followup(press)
        original = await dc.press_button(result, "bb2:o:2")
        [lossless] = await dc.wait_for_followup(original)

    assert press.callback_types == [5]
    first, second = gemini.requests
    assert texts_of(second) == texts_of(first) == [("user", ["a lemon tree"])]
    assert attachment_bytes(dc, variant) == [second.result_image]
    assert button_ids(variant) == result_button_ids(3)  # a sibling answer
    assert int(lossless["flags"]) & FLAG_EPHEMERAL
    assert lossless["content"] == "Original, lossless."
    assert attachment_bytes(dc, lossless) == [first.result_image]


async def test_retry_after_a_failure_tries_the_stored_instruction_again(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    gemini.script(Reply.server_error(503), Reply.server_error(503), Reply.server_error(503))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "a kite"})
        [failure] = await dc.wait_for_followup(inter)
        press = await dc.press_button(failure, "bb2:r:1")
        [result] = await dc.wait_for_followup(press)

    assert failure["content"] == "Gemini is unavailable right now. Please try again shortly."
    assert failure["attachments"] == []
    assert texts_of(gemini.requests[-1]) == [("user", ["a kite"])]
    assert attachment_bytes(dc, result) == [gemini.requests[-1].result_image]


async def test_buttons_check_access_for_the_person_who_clicks(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    stranger = dc.add_user("mallory")
    access = AccessSettings(allowed_users=(str(dc.user_id),))
    async with serving(bot_settings(tmp_path / "data", gemini, dc, access=access)):
        inter = await dc.slash_command("imagine", {"prompt": "a boat"})
        [result] = await dc.wait_for_followup(inter)
        press = await dc.press_button(result, "bb2:r:2", user=stranger)
        refusal = await ephemeral_answer(dc, press)

    assert refusal["content"] == "Sorry, you are not allowed to use this bot here."
    assert len(gemini.requests) == 1


async def test_an_oversized_result_comes_as_a_jpeg_preview_and_original_explains(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    # A guild whose upload limit is far below the result's size.
    dc.upload_limit = SMALL_LIMIT
    big = noisy_png((420, 420))
    assert len(big) > SMALL_LIMIT
    gemini.script(Reply.image(big))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "static noise"})
        [result] = await dc.wait_for_followup(inter)
        press = await dc.press_button(result, "bb2:o:2")
        note = await ephemeral_answer(dc, press)

    [attachment] = result["attachments"]
    assert attachment["filename"] == "bananabot-2-preview.jpg"
    preview = dc.attachment_bytes(attachment)
    assert len(preview) <= SMALL_LIMIT
    assert preview[:3] == b"\xff\xd8\xff"  # a JPEG
    assert "-# JPEG preview: the lossless PNG" in result["content"]
    assert "200 KB" in result["content"]
    assert button_ids(result) == result_button_ids(2)
    assert "cannot be sent in this channel" in note["content"]
    assert note["attachments"] == []

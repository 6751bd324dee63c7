"""Start-up and shutdown: fatal refusals stop the process with a clear message, stop is clean."""

from __future__ import annotations

import logging
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from tests.discord_harness import (
    attachment_bytes,
    bot_messages,
    bot_settings,
    button_ids,
    png,
    refused_start,
    serving,
)
from tests.fakes.discord import INTENT_MESSAGE_CONTENT, DiscordFake
from tests.fakes.gemini import GeminiFake, Reply


@pytest.mark.parametrize("refusal", ["intent_not_enabled_in_portal", "close_4014"])
async def test_a_refused_message_content_intent_stops_with_the_switch_to_flip(
    tmp_path: Path,
    gemini: GeminiFake,
    dc: DiscordFake,
    refusal: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if refusal == "close_4014":
        dc.close_on_identify = 4014
    else:
        dc.allowed_privileged_intents = 0
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    settings = bot_settings(tmp_path / "data", gemini, dc)
    refused = await refused_start(settings)

    assert refused.key == "discord.message_content_intent"
    assert "Message Content Intent" in str(refused)
    assert "Bot > Privileged Gateway Intents" in str(refused)
    assert len(dc.identify_payloads) == 1  # no reconnect loop
    assert dc.identified_intents is not None
    assert dc.identified_intents & INTENT_MESSAGE_CONTENT
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("discord.message_content_intent" in r.getMessage() for r in errors)
    # The class attributes pointing discord.py at the fake are restored.
    assert base == discord.http.Route.BASE
    assert gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


async def test_a_rejected_token_names_the_config_key(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dc.fail_next("GET", r"^/users/@me$", status=401, code=0, message="401: Unauthorized")
    settings = bot_settings(tmp_path / "data", gemini, dc)
    refused = await refused_start(settings)

    assert refused.key == "discord.token"
    assert "fake-token" not in str(refused)
    assert dc.identify_payloads == []


async def test_stop_while_a_step_runs_cancels_it_after_the_grace_period(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, caplog: pytest.LogCaptureFixture
) -> None:
    gemini.script(Reply.hang())
    settings = bot_settings(tmp_path / "data", gemini, dc)
    async with serving(settings, shutdown_grace=0.05):
        await dc.slash_command("imagine", {"prompt": "never answered"})
        await gemini.wait_for_requests(1)

    assert any("cancelled 1 steps at shutdown" in r.getMessage() for r in caplog.records)
    assert dc.connected == 0


async def test_a_step_cut_short_is_announced_with_retry_at_the_next_start(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    gemini.script(Reply.hang())
    settings = bot_settings(tmp_path / "data", gemini, dc)
    photo = png((10, 10, 10))
    async with serving(settings, shutdown_grace=0.05):
        asked = await dc.user_message(
            content="make it pink",
            attachments=[dc.add_attachment(photo, "cat.png")],
            mentions_bot=True,
        )
        await gemini.wait_for_requests(1)

    async with serving(settings):
        [notice] = await bot_messages(dc, dc.channel_id, 1)
        press = await dc.press_button(notice, button_ids(notice)[0])
        [result] = await dc.wait_for_followup(press)

    assert notice["content"].startswith("I was restarted while working on this.")
    assert notice["message_reference"]["message_id"] == asked["id"]
    assert button_ids(notice) == ["bb2:r:1"]
    assert gemini.requests[-1].contents == gemini.requests[0].contents
    assert attachment_bytes(dc, result) == [gemini.requests[-1].result_image]

"""Discord platform faults seen through the adapter: rate limits on the way back."""

from __future__ import annotations

from pathlib import Path

from tests.discord_harness import attachment_bytes, bot_settings, png, serving
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

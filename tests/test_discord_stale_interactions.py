"""Interactions the bot no longer knows get the answer Discord expects, not a failure.

Old buttons, dialogs and commands outlive the version of the bot that made them: a button on a
message from last year, a command an earlier version registered, an autocomplete request for
it while Discord's command list is not yet refreshed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.discord_harness import WAIT, bot_settings, ephemeral_answer, serving
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake

BUTTON_GONE = {
    "en-US": "This button is no longer active.",
    "zh-CN": "这个按钮已失效。",
}
COMMAND_GONE = {
    "en-US": "This command is no longer available.",
    "zh-CN": "此命令已不再可用。",
}
OLD_BUTTONS = [
    {
        "type": 1,
        "components": [
            {"type": 2, "style": 2, "label": "Upscale", "custom_id": "bananabot:upscale:17"}
        ],
    }
]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines at ERROR or with a traceback: there must be none."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_autocomplete_for_an_unknown_command_gets_empty_choices(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        typing = await dc.autocomplete("restyle", {"style": "wat"}, focused="style")
        await dc.wait_for(lambda: typing.callbacks or None, WAIT)

    assert typing.callbacks == [{"type": 8, "data": {"choices": []}, "files": {}}]
    assert no_tracebacks(caplog) == []


async def test_autocomplete_for_a_known_command_still_offers_choices(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        typing = await dc.autocomplete(
            "imagine", {"prompt": "a cat", "aspect_ratio": "16"}, focused="aspect_ratio"
        )
        await dc.wait_for(lambda: typing.callbacks or None, WAIT)

    [callback] = typing.callbacks
    assert callback["type"] == 8
    assert {c["value"] for c in callback["data"]["choices"]} == {"16:9", "9:16"}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_a_button_from_an_earlier_version_says_it_is_no_longer_active(
    tmp_path: Path,
    gemini: GeminiFake,
    dc: DiscordFake,
    caplog: pytest.LogCaptureFixture,
    locale: str,
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        old = dc.add_old_bot_message("Here is your image.", OLD_BUTTONS)
        press = await dc.press_button(old, "bananabot:upscale:17", locale=locale)
        answer = await ephemeral_answer(dc, press)

    assert answer["content"] == BUTTON_GONE[locale]
    assert gemini.requests == []
    assert no_tracebacks(caplog) == []


async def test_a_dialog_submitted_after_a_restart_says_it_is_no_longer_active(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, caplog: pytest.LogCaptureFixture
) -> None:
    settings = bot_settings(tmp_path / "data", gemini, dc)
    async with serving(settings):
        asked = await dc.user_message(
            content="my cat", attachments=[dc.add_attachment(b"\x89PNG", "cat.png")]
        )
        menu = await dc.message_context_menu("Edit image", asked)
        await dc.wait_for(lambda: menu.modal, WAIT)
    assert menu.modal is not None
    async with serving(settings):
        # The dialog stayed open on the user's screen while the bot restarted.
        [row] = menu.modal["components"]
        [field] = row["components"]
        submit = await dc.submit_modal(menu.modal["custom_id"], {field["custom_id"]: "blue"})
        answer = await ephemeral_answer(dc, submit)

    assert answer["content"] == BUTTON_GONE["en-US"]
    assert gemini.requests == []
    assert no_tracebacks(caplog) == []


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_a_command_an_earlier_version_registered_says_it_is_gone(
    tmp_path: Path,
    gemini: GeminiFake,
    dc: DiscordFake,
    caplog: pytest.LogCaptureFixture,
    locale: str,
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        command = await dc.slash_command("restyle", {"style": "noir"}, locale=locale)
        answer = await ephemeral_answer(dc, command)
        menu = await dc.message_context_menu(
            "Upscale", await dc.user_message(content="hi"), locale=locale
        )
        menu_answer = await ephemeral_answer(dc, menu)

    assert answer["content"] == COMMAND_GONE[locale]
    assert menu_answer["content"] == COMMAND_GONE[locale]
    assert "Something went wrong" not in answer["content"]
    assert no_tracebacks(caplog) == []

"""Actions reach users on every platform with no per-action adapter code.

An action declared only here (in the test) shows as a button on Telegram and Discord and is
pressed through both fakes; buttons posted by the version before versioned payloads still work.
"""

from __future__ import annotations

from pathlib import Path

from bot import messages
from bot.actions import Action, PressContext
from bot.engine import Engine
from bot.outcome import Outcome, Success
from tests.conftest import RESULT_ACTIONS, photo
from tests.discord_harness import (
    attachment_bytes,
    bot_settings,
    button_ids,
    button_labels,
    ephemeral_answer,
    serving,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import button, running_bot, telegram_settings

LABELS = messages.CORE.extend(
    "test", {messages.EN: {"echo_button": "Echo"}, messages.ZH: {"echo_button": "回声"}}
)


async def _echo(engine: Engine, press: PressContext, arg: str) -> None:
    await press.reply.notify(f"echo {arg} for {press.author.display_name}")


def _offer_echo(outcome: Outcome) -> str | None:
    return str(outcome.model_turn_id) if isinstance(outcome, Success) else None


ECHO = Action("echo", "echo", "echo_button", _echo, offer=_offer_echo, catalog=LABELS)


async def test_an_action_declared_in_the_core_is_pressed_on_telegram(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            bot.engine.actions.register(ECHO)
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            result = bot.posted(await bot.reply_to(sent))
            tg.press_button(chat, alice, result, button(result, "Echo"))
            answer = await tg.wait_for_call("answerCallbackQuery")
    assert answer.params["text"] == "echo 2 for Alice"
    assert answer.params["show_alert"] is True
    assert len(gemini.requests) == 1


async def test_an_action_declared_in_the_core_is_pressed_on_discord(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        engine.actions.register(ECHO)
        inter = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
        [result] = await dc.wait_for_followup(inter)
        assert button_labels(result) == [*RESULT_ACTIONS, "Echo"]
        press = await dc.press_button(result, button_ids(result)[6])
        answer = await ephemeral_answer(dc, press)
    assert answer["content"].startswith("echo 2 for ")
    assert len(gemini.requests) == 1


async def test_telegram_buttons_posted_before_the_upgrade_still_work(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await bot.reply_to(sent)
            # What the previous version posted under result 2: "r:2" and "o:2".
            keyboard = {
                "inline_keyboard": [
                    [
                        {"text": "Retry", "callback_data": "r:2"},
                        {"text": "Original", "callback_data": "o:2"},
                    ]
                ]
            }
            old = tg.seed_bot_message(chat, text="an old result", reply_markup=keyboard)
            tg.press_button(chat, alice, old, "o:2")
            document = await tg.wait_for_call("sendDocument")
            tg.press_button(chat, alice, old, "r:2")
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 2, timeout=15)
    assert document.upload("document") == gemini.requests[0].result_image
    assert len(gemini.requests) == 2
    assert gemini.requests[1].contents == gemini.requests[0].contents  # the same turn again


async def test_discord_buttons_posted_before_the_upgrade_still_work(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    retry, original = "bb:retry:2", "bb:original:2"  # what the previous version posted
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        inter = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
        await dc.wait_for_followup(inter)
        buttons = [
            {"type": 2, "style": 2, "label": "Retry", "custom_id": retry},
            {"type": 2, "style": 2, "label": "Original", "custom_id": original},
        ]
        old = dc.add_old_bot_message("an old result", [{"type": 1, "components": buttons}])
        lossless = await ephemeral_answer(dc, await dc.press_button(old, original))
        press = await dc.press_button(old, retry)
        [variant] = await dc.wait_for_followup(press)
    assert attachment_bytes(dc, lossless) == [gemini.requests[0].result_image]
    assert attachment_bytes(dc, variant) == [gemini.requests[1].result_image]
    assert gemini.requests[1].contents == gemini.requests[0].contents

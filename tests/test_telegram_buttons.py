"""Inline buttons pressed late: answering the callback is best effort, the action still runs."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import photo
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def buttons_of(message: dict[str, object]) -> dict[str, str]:
    """Button text -> callback data of a result."""
    markup = message["reply_markup"]
    assert isinstance(markup, dict)
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def test_a_late_press_still_retries_and_sends_the_original(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="make it blue")
            result = bot.posted(await bot.reply_to(sent))
            buttons = buttons_of(result)
            # Telegram's answer deadline has passed for both presses.
            tg.fail_next("answerCallbackQuery", 400, TOO_OLD, times=2)
            tg.press_button(chat, alice, result, buttons["Retry"])
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 2, timeout=15)
            tg.press_button(chat, alice, result, buttons["Original"])
            document = await tg.wait_for_call("sendDocument", timeout=15)
    answers = tg.calls_of("answerCallbackQuery")
    assert [c.status for c in answers] == [400, 400]
    assert len(gemini.requests) == 2
    assert document.upload("document") == gemini.requests[0].result_image
    said = [c.params["text"] for c in tg.calls_of("sendMessage")]
    assert not [text for text in said if "went wrong" in text]

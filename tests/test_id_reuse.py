"""Ids are never reused: a stale button after /forget or retention names nothing, not a new row.

The store's side of it is in `test_store_contract.py` (every backend) and `test_sqlite_store.py`
(the id sequences and the migration that introduced them); these are the users' side.
"""

from __future__ import annotations

from pathlib import Path

from bot import messages
from tests.conftest import photo
from tests.discord_harness import (
    attachment_bytes,
    bot_settings,
    button_ids,
    ephemeral_answer,
    serving,
    until_linked,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import Call, TelegramFake
from tests.telegram_harness import running_bot, telegram_settings

UNKNOWN = messages.text("unknown_result", "en")


async def test_stale_telegram_buttons_after_forget_name_no_one_elses_result(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice, bob = tg.user(1, "Alice"), tg.user(2, "Bob")
        group = tg.group(-100, "Friends")
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            first = tg.send_user_message(group, bob, photo=photo((0, 0, 200)), caption="/edit a")
            await bot.reply_to(first)
            mine = tg.send_user_message(group, alice, photo=photo((200, 0, 0)), caption="/edit b")
            alices_result = bot.posted(await bot.reply_to(mine))
            retry, original, *_ = (
                b["callback_data"] for b in alices_result["reply_markup"]["inline_keyboard"][0]
            )
            ask = tg.send_user_message(group, alice, text="/forget")
            confirm = bot.posted(await bot.reply_to(ask, "sendMessage"))
            data = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            tg.press_button(group, alice, confirm, data)
            await tg.wait_for_call("editMessageText")
            again = tg.send_user_message(group, bob, photo=photo((0, 200, 0)), caption="/edit c")
            bobs_new = bot.posted(await bot.reply_to(again))
            model_calls = len(gemini.requests)

            # Alice's stale Original under her deleted result.
            press = tg.press_button(group, alice, alices_result, original)
            answer = await _answer_to(tg, press["callback_query"]["id"])
            # Her stale Retry: either the refusal or a new picture ends the wait.
            tg.press_button(group, alice, alices_result, retry)
            await tg.wait_for(
                lambda: (
                    any(
                        UNKNOWN in (c.params.get("text") or "") for c in tg.calls_of("sendMessage")
                    )
                    or len(tg.calls_of("sendPhoto")) > 3
                )
            )
    assert answer.params.get("text") == UNKNOWN
    assert answer.params.get("show_alert") is True
    assert tg.calls_of("sendDocument") == []
    assert len(tg.calls_of("sendPhoto")) == 3
    assert any(c.params["text"] == UNKNOWN for c in tg.calls_of("sendMessage"))
    assert len(gemini.requests) == model_calls
    assert alices_result["reply_markup"] != bobs_new["reply_markup"]


async def _answer_to(tg: TelegramFake, query_id: str) -> Call:
    """Wait for the bot's answerCallbackQuery to one button press."""

    def answers() -> list[Call]:
        calls = tg.calls_of("answerCallbackQuery")
        return [c for c in calls if c.params["callback_query_id"] == query_id]

    return (await tg.wait_for(answers))[0]


async def test_stale_discord_buttons_after_forget_name_no_one_elses_result(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    bob = dc.add_user("bob")
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        bobs = await dc.slash_command("imagine", {"prompt": "a pear"}, user=bob)
        await dc.wait_for_followup(bobs)
        mine = await dc.slash_command("imagine", {"prompt": "a plum"})
        [alices_result] = await dc.wait_for_followup(mine)
        await until_linked(engine, dc.channel_id, alices_result)
        asked = await dc.slash_command("forget")
        await ephemeral_answer(dc, asked)
        assert asked.original is not None
        [forget_id] = button_ids(asked.original)
        await dc.wait_for_callback(await dc.press_button(asked.original, forget_id))
        again = await dc.slash_command("imagine", {"prompt": "a fig"}, user=bob)
        [bobs_new] = await dc.wait_for_followup(again)
        model_calls = len(gemini.requests)

        retry_id, original_id, *_ = button_ids(alices_result)
        original = await dc.press_button(alices_result, original_id)
        refusal = await ephemeral_answer(dc, original)
        retry = await dc.press_button(alices_result, retry_id)
        [retried] = await dc.wait_for_followup(retry)

    assert refusal["content"] == UNKNOWN
    assert not refusal.get("attachments")
    assert retried["content"] == UNKNOWN
    assert attachment_bytes(dc, retried) == []
    assert len(gemini.requests) == model_calls
    assert button_ids(alices_result) != button_ids(bobs_new)

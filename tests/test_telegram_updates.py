"""Updates this PTB cannot read (Telegram and the library drifted apart) are skipped, not fatal.

The payloads are real: Telegram sends them, and the installed PTB 22 raises on them
(`Poll` requires `members_only` since Bot API 10.0; `Gift` requires its `id`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.config import TelegramSettings
from bot.app import open_engine
from tests.conftest import photo
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import Call, FakeChat, FakeUser, TelegramFake
from tests.telegram_harness import running_bot, telegram_settings, webhook_settings

SECRET_QUESTION = "Where shall we hide the birthday cake?"  # content that must never be logged


def poll_without_members_only(chat: FakeChat, user: FakeUser, message_id: int) -> dict[str, Any]:
    """A poll message as Telegram sends it, minus `members_only` (PTB 22.8 requires it)."""
    poll = {
        "id": "5123456789012345678",
        "question": SECRET_QUESTION,
        "options": [
            {"text": "Under the sofa", "voter_count": 0, "persistent_id": "0"},
            {"text": "In the oven", "voter_count": 0, "persistent_id": "1"},
        ],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": True,
    }
    return {
        "message_id": message_id,
        "from": user.to_dict(),
        "chat": chat.to_dict(),
        "date": 1_760_000_000,
        "poll": poll,
    }


def gift_without_id(chat: FakeChat, user: FakeUser, message_id: int) -> dict[str, Any]:
    """A gift service message whose `Gift` lacks its id (PTB 22.8 requires it)."""
    sticker = {
        "file_id": "CAACAgIAAxUAAWc",
        "file_unique_id": "AgADjk4AAh",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": True,
        "is_video": False,
        "emoji": "🎂",
    }
    return {
        "message_id": message_id,
        "from": user.to_dict(),
        "chat": chat.to_dict(),
        "date": 1_760_000_000,
        "gift": {
            "gift": {"sticker": sticker, "star_count": 50},
            "convert_star_count": 40,
            "owned_gift_id": "owned-1",
            "text": SECRET_QUESTION,
        },
    }


BAD_MESSAGES = [poll_without_members_only, gift_without_id]


@pytest.mark.parametrize("bad_message", BAD_MESSAGES)
def test_the_payloads_really_break_this_ptb(bad_message: Any) -> None:
    """Guard: if PTB learns to read them, these tests no longer test anything."""
    chat = FakeChat(1, "private", first_name="Alice")
    user = FakeUser(1, first_name="Alice")
    with pytest.raises(TypeError):
        Update.de_json({"update_id": 1, "message": bad_message(chat, user, 9)}, None)


def skipped_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "could not read" in r.getMessage()]


def offsets(tg: TelegramFake) -> list[int]:
    return [int(c.params["offset"]) for c in tg.calls_of("getUpdates") if "offset" in c.params]


@pytest.mark.parametrize("bad_message", BAD_MESSAGES)
async def test_an_unreadable_update_is_skipped_and_the_rest_of_the_batch_served(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture, bad_message: Any
) -> None:
    caplog.set_level(logging.INFO)  # what the bot logs (logsetup keeps PTB's debug trace off)
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            polls_before = len(tg.calls_of("getUpdates"))
            # One getUpdates batch: a photo to edit, the unreadable update, a follow-up text.
            edit = tg.send_user_message(chat, alice, photo=photo(), caption="make it blue")
            bad = tg.queue_update({"message": bad_message(chat, alice, edit["message_id"] + 1)})
            follow = tg.send_user_message(chat, alice, text="now add a hat")
            await bot.reply_to(edit)
            await bot.reply_to(follow)
            await tg.wait_for(lambda: any(o > bad["update_id"] for o in offsets(tg)))
            polls = len(tg.calls_of("getUpdates")) - polls_before
    assert len(gemini.requests) == 2
    assert polls <= 6  # not hundreds a second
    (record,) = skipped_records(caplog)
    assert str(bad["update_id"]) in record.getMessage()
    assert record.levelno == logging.WARNING
    assert SECRET_QUESTION not in caplog.text
    assert "Under the sofa" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_unreadable_last_update_is_confirmed_too(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            edit = tg.send_user_message(chat, alice, photo=photo(), caption="make it blue")
            bad = tg.queue_update({"message": gift_without_id(chat, alice, 99)})
            await bot.reply_to(edit)
            await tg.wait_for(lambda: any(o > bad["update_id"] for o in offsets(tg)))
            assert tg.pending_updates == []
            # Still serving afterwards.
            later = tg.send_user_message(chat, alice, text="and a scarf")
            await bot.reply_to(later)
    assert len(skipped_records(caplog)) == 1


async def test_repeated_polling_failures_back_off(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch nothing can be read from (not even an update id) is fetched again, but later."""
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            message = tg.send_user_message(chat, alice, text="hello", deliver=False)
            tg.register_method("getUpdates", lambda call: [{"message": message}])

            def failing_polls(t: TelegramFake) -> list[Call]:
                return [c for c in t.calls_of("getUpdates") if c.status == 200 and c.response]

            await tg.wait_for(lambda: len(failing_polls(tg)) >= 3, timeout=15)
            first, second, third = failing_polls(tg)[:3]
            # Waits grow between attempts (lower bounds: a slow machine only makes them longer).
            assert second.time - first.time >= 0.9
            assert third.time - second.time >= 1.4
            tg.unregister_method("getUpdates")
            later = tg.send_user_message(chat, alice, text="a red fox")
            await bot.reply_to(later)
    assert message["chat"]["id"] == chat.id


async def test_webhook_answers_200_for_an_unreadable_update_and_serves_the_rest(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        port = _free_port()
        base = telegram_settings(tmp_path, gemini, tg)
        settings = webhook_settings(base, tg, port, "s3cret-token")
        async with open_engine(settings) as engine:
            stop = asyncio.Event()
            adapter = TelegramAdapter(engine, settings.plugin("telegram", TelegramSettings))
            task = asyncio.create_task(adapter.run(stop))
            try:
                await asyncio.wait_for(adapter.ready.wait(), 15)
                edit = tg.send_user_message(chat, alice, photo=photo(), caption="make it blue")
                bad = tg.queue_update({"message": poll_without_members_only(chat, alice, 50)})
                follow = tg.send_user_message(chat, alice, text="now add a hat")
                await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 2, timeout=15)
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
    deliveries = [(d.update_id, d.status) for d in tg.webhook_deliveries]
    assert (bad["update_id"], 200) in deliveries
    assert len(deliveries) == 3  # each delivered once: nothing redelivered
    replied_to = [c.params["reply_parameters"]["message_id"] for c in tg.calls_of("sendPhoto")]
    assert sorted(replied_to) == [edit["message_id"], follow["message_id"]]
    assert len(skipped_records(caplog)) == 1
    assert SECRET_QUESTION not in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""Telegram groups, forum topics, commands and settings, as conversations against real PTB."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.config import TelegramSettings
from bot.app import open_engine
from tests.conftest import photo
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings, webhook_settings


async def test_group_commands_mentions_and_replies(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg:
        alice, bob = tg.user(1, "Alice"), tg.user(2, "Bob")
        group = tg.group(-100, "Friends")
        bobs_photo = photo((0, 0, 200))
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            # Chatter, a photo without a command, a command for another bot: all ignored.
            tg.send_user_message(group, alice, text="hello everyone")
            plain = tg.send_user_message(group, bob, photo=bobs_photo, caption="my cat")
            tg.send_user_message(group, alice, text="/edit@other_bot make it red", reply_to=plain)
            # /edit as a reply to somebody's photo edits that photo.
            edit = tg.send_user_message(group, alice, text="/edit make it red", reply_to=plain)
            result = bot.posted(await bot.reply_to(edit))
            # A reply to the bot's result continues; so does /edit@bot as a caption.
            follow = tg.send_user_message(group, bob, text="add sunglasses", reply_to=result)
            await bot.reply_to(follow)
            captioned = tg.send_user_message(
                group, bob, photo=photo(), caption="/edit@banana_bot cartoon style"
            )
            await bot.reply_to(captioned)
            mention = tg.send_user_message(group, alice, text="@banana_bot a red fox, watercolor")
            await bot.reply_to(mention)
            imagine = tg.send_user_message(group, alice, text="/imagine a banana spaceship")
            await bot.reply_to(imagine)
            lonely = tg.send_user_message(group, alice, text="/edit make it red")
            hint = await bot.reply_to(lonely, "sendMessage")
            assert hint.params["text"].startswith("There is no picture to edit")
    r_edit, r_follow, r_caption, r_mention, r_imagine = gemini.requests
    assert r_edit.images == [bobs_photo]
    assert r_edit.contents[0].parts[-1].text == "make it red"
    assert [c.role for c in r_follow.contents] == ["user", "model", "user"]
    assert r_caption.contents[0].parts[-1].text == "cartoon style"
    assert [(p.text, p.image) for p in r_mention.contents[0].parts] == [
        ("a red fox, watercolor", None)
    ]
    assert r_imagine.contents[0].parts[0].text == "a banana spaceship"
    # Only the photo someone asked about was downloaded (plus the captioned one).
    assert len(tg.calls_of("getFile")) == 2


async def test_forum_topic_results_stay_in_the_topic(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        forum = tg.group(-200, "Studio", forum=True)
        thread_id, _ = tg.create_forum_topic(forum, alice, "Portraits")
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(
                forum, alice, photo=photo(), caption="/edit add a hat", message_thread_id=thread_id
            )
            call = await bot.reply_to(sent)
            assert call.params["message_thread_id"] == thread_id
            actions = tg.calls_of("sendChatAction")
            assert actions[0].params["message_thread_id"] == thread_id
            # A plain topic message "replies" to the topic root: that is no reply to us.
            tg.send_user_message(forum, alice, text="nice", message_thread_id=thread_id)
            follow = tg.send_user_message(
                forum, alice, text="/edit bigger hat", message_thread_id=thread_id
            )
            hint = await bot.reply_to(follow, "sendMessage")
            assert hint.params["text"].startswith("There is no picture to edit")
            assert hint.params["message_thread_id"] == thread_id
    assert len(gemini.requests) == 1


async def test_help_usage_new_and_commands_in_two_languages(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            start = tg.send_user_message(chat, alice, text="/start")
            help_text = (await bot.reply_to(start, "sendMessage")).params["text"]
            assert "/edit" in help_text and "privacy mode" in help_text
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await bot.reply_to(sent)
            usage = tg.send_user_message(chat, alice, text="/usage")
            assert "made 1 image (" in (await bot.reply_to(usage, "sendMessage")).params["text"]
    english = tg.commands_for(None, "")
    chinese = tg.commands_for(None, "zh")
    assert english is not None and chinese is not None
    expected = [
        "start",
        "help",
        "edit",
        "imagine",
        "new",
        "settings",
        "usage",
        "info",
        "history",
        "ref",
        "forget",
    ]
    assert [c["command"] for c in english] == expected
    assert chinese[2]["description"].startswith("编辑")


async def test_settings_are_for_chat_admins_and_change_the_request(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice, bob = tg.user(1, "Alice"), tg.user(2, "Bob")
        group = tg.group(-300, "Team")
        tg.set_chat_member(group, alice, "administrator")
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            denied = tg.send_user_message(group, bob, text="/settings")
            assert "Only chat admins" in (await bot.reply_to(denied, "sendMessage")).params["text"]
            ask = tg.send_user_message(group, alice, text="/settings")
            menu = bot.posted(await bot.reply_to(ask, "sendMessage"))
            tg.press_button(group, alice, menu, "s:k:aspect_ratio")
            await tg.wait_for_call("editMessageText")
            menu = tg.message(group, menu["message_id"]) or {}
            # Bob cannot press the admin's menu either.
            tg.press_button(group, bob, menu, "s:v:aspect_ratio:16:9")
            await tg.wait_for(
                lambda: any(c.params.get("show_alert") for c in tg.calls_of("answerCallbackQuery"))
            )
            tg.press_button(group, alice, menu, "s:v:aspect_ratio:16:9")
            await tg.wait_for_call("editMessageText", count=2)
            edit = tg.send_user_message(group, bob, photo=photo(), caption="/edit wide")
            await bot.reply_to(edit)
    assert gemini.requests[0].generation_config["imageConfig"] == {"aspectRatio": "16:9"}


async def test_flood_control_is_waited_out(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        tg.fail_next("sendPhoto", status=429, retry_after=1)
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="blue")
            await bot.reply_to(sent)
    attempts = tg.calls_of("sendPhoto")
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].time - attempts[0].time >= 1.0


async def test_queue_position_is_shown_then_removed(tmp_path: Path, gemini: GeminiFake) -> None:
    gemini.latency = 0.5
    async with TelegramFake() as tg:
        users = [tg.user(10 + i, f"U{i}") for i in range(3)]
        settings = telegram_settings(tmp_path, gemini, tg, max_concurrent_requests=1)
        async with running_bot(tg, settings) as bot:
            sent = [
                tg.send_user_message(tg.private_chat(u), u, photo=photo(), caption="blue")
                for u in users
            ]
            await asyncio.gather(*(bot.reply_to(m) for m in sent))
    statuses = [c for c in tg.calls_of("sendMessage") if "queue" in c.params["text"]]
    assert statuses, "somebody waited for the single model slot"
    deleted = {c.params["message_id"] for c in tg.calls_of("deleteMessage")}
    assert {c.response["message_id"] for c in statuses} <= deleted


async def test_privacy_mode_is_reported_at_start_up(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    async with (
        TelegramFake(privacy_mode=True) as tg,
        running_bot(tg, telegram_settings(tmp_path, gemini, tg)),
    ):
        pass
    assert "privacy mode is on" in caplog.text
    assert tg.token not in caplog.text


async def test_webhook_mode_checks_the_secret_token(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake(webhook_delivery=False) as tg:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg)
        port = _free_port()
        settings = webhook_settings(settings, tg, port, "s3cret-token")
        async with open_engine(settings) as engine:
            stop = asyncio.Event()
            adapter = TelegramAdapter(engine, settings.plugin("telegram", TelegramSettings))
            task = asyncio.create_task(adapter.run(stop))
            await asyncio.wait_for(adapter.ready.wait(), 15)
            url = f"http://127.0.0.1:{port}/tg-hook"
            message = tg.send_user_message(
                chat, alice, photo=photo(), caption="blue", deliver=False
            )
            update = {"update_id": 1, "message": message}
            assert await tg.post_update_to(url, update, secret_token="wrong") == 403
            assert await tg.post_update_to(url, update, secret_token="s3cret-token") == 200
            await tg.wait_for_call("sendPhoto")
            stop.set()
            await asyncio.wait_for(task, 15)
    assert tg.calls_of("setWebhook")[0].params["secret_token"] == "s3cret-token"
    assert len(gemini.requests) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

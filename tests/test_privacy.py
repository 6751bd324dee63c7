"""/forget and retention: a user's data goes, others' lineages keep working."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.app import enforce_retention, open_engine
from bot.request import Author, ChatKey
from bot.store.sqlite import SqliteStore
from tests.conftest import CHAT, RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings

BOB = Author("bob", "Bob", "en")


def image_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "images").rglob("*") if p.is_file()}


async def test_forget_deletes_the_callers_turns_and_keeps_others_working(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    data_dir = tmp_path / "data"
    alices_photo = photo((200, 0, 0))
    async with open_engine(make_settings(data_dir, gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("blue", alices_photo), outbox)
        alices_result = outbox.posted[-1]
        # Bob branches from Alice's result, then refines his own branch.
        await engine.handle(request("add a hat", reply_to=alices_result, author=BOB), outbox)
        bobs_result = outbox.posted[-1]
        files_before = image_files(data_dir)

        deleted = await engine.forget(CHAT, Author("alice"))
        assert deleted == 2  # her turn and the model's answer to it

        assert not await engine.is_linked(CHAT, alices_result)
        await engine.handle(request("bigger hat", reply_to=bobs_result, author=BOB), outbox)
        assert outbox.success.images
        files_after = image_files(data_dir)
    # Bob's last request starts at his own turn: nothing of Alice's is sent any more.
    last = gemini.requests[-1]
    assert alices_photo not in last.images
    assert gemini.requests[0].result_image not in last.images
    assert [c.role for c in last.contents] == ["user", "model", "user"]
    assert last.contents[0].parts[-1].text == "add a hat"
    # Her photo and her result are gone from disk; Bob's result stays.
    assert len(files_before - files_after) == 2


async def test_forget_in_telegram_needs_the_askers_confirmation(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        alice, mallory = tg.user(1, "Alice"), tg.user(3, "Mallory")
        group = tg.group(-100, "Friends")
        async with running_bot(tg, telegram_settings(tmp_path, gemini, tg)) as bot:
            sent = tg.send_user_message(group, alice, photo=photo(), caption="/edit blue")
            result = bot.posted(await bot.reply_to(sent))
            ask = tg.send_user_message(group, alice, text="/forget")
            confirm = bot.posted(await bot.reply_to(ask, "sendMessage"))
            data = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            tg.press_button(group, mallory, confirm, data)
            await tg.wait_for(
                lambda: any(c.params.get("show_alert") for c in tg.calls_of("answerCallbackQuery"))
            )
            assert await bot.engine.is_linked(bot_chat(group.id), str(result["message_id"]))
            tg.press_button(group, alice, confirm, data)
            done = await tg.wait_for_call("editMessageText")
            assert "turns deleted" in done.params["text"]
            assert not await bot.engine.is_linked(bot_chat(group.id), str(result["message_id"]))


def bot_chat(chat_id: int) -> ChatKey:
    return ChatKey("telegram", str(chat_id))


async def test_retention_deletes_old_turns_and_images(tmp_path: Path, gemini: GeminiFake) -> None:
    data_dir = tmp_path / "data"
    async with open_engine(make_settings(data_dir, gemini)) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("old one", photo((1, 1, 1))), outbox)
        old_result = outbox.posted[-1]
        # Age the turn on disk through a second connection, as if 40 days had passed.
        async with SqliteStore.open(data_dir) as store:
            aged = time.time() - 40 * 86400
            await store.database.write(
                lambda db: db.execute("UPDATE turns SET created_at = ?", (aged,))
            )
        await engine.handle(request("new one", photo((2, 2, 2))), outbox)
        new_result = outbox.posted[-1]
        stop = asyncio.Event()
        task = asyncio.create_task(enforce_retention(engine, 30, stop, every_s=3600))
        async with asyncio.timeout(10):
            while await engine.is_linked(CHAT, old_result):  # noqa: ASYNC110 - bounded poll
                await asyncio.sleep(0.01)
        stop.set()
        await task
        assert await engine.is_linked(CHAT, new_result)
    assert len(image_files(data_dir)) == 2  # the new photo and its result

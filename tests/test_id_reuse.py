"""Ids are never reused: a stale button after /forget or retention names nothing, not a new row."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot import messages
from bot.lineage import Part, Role, TurnStatus
from bot.request import ChatKey
from bot.store import DB_NAME, ID_GAP, MIGRATIONS, Store, UsageRecord
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
CHAT = ChatKey("test", "c")


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
            retry, original = (
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
                lambda t: (
                    any(UNKNOWN in (c.params.get("text") or "") for c in t.calls_of("sendMessage"))
                    or len(t.calls_of("sendPhoto")) > 3
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

    def of(t: TelegramFake) -> list[Call]:
        calls = t.calls_of("answerCallbackQuery")
        return [c for c in calls if c.params["callback_query_id"] == query_id]

    await tg.wait_for(lambda t: bool(of(t)))
    return of(tg)[0]


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

        retry_id, original_id = button_ids(alices_result)
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


async def _everything_issued(store: Store) -> tuple[int, int, int]:
    rows = await store._rows(
        "SELECT (SELECT MAX(id) FROM turns), (SELECT MAX(id) FROM lineages),"
        " (SELECT MAX(id) FROM usage)"
    )
    return int(rows[0][0] or 0), int(rows[0][1] or 0), int(rows[0][2] or 0)


async def _step(store: Store, author: str, text: str) -> tuple[int, int, int]:
    """A user turn in a new lineage and its answer: (user turn, model turn, lineage)."""
    user = await store.add_user_turn(CHAT, author, None, [Part(text=text)], message_ids=[text])
    model = await store.add_model_turn(
        CHAT, user, "m", [Part(text="done")], UsageRecord(images=1), author
    )
    return user.id, model.id, user.lineage_id


async def test_ids_of_deleted_rows_are_never_issued_again(tmp_path: Path) -> None:
    async with Store.open(tmp_path) as store:
        await _step(store, "bob", "one")
        alices = await _step(store, "alice", "two")
        high = await _everything_issued(store)
        # The newest turns (and with them their lineage) go, as /forget does.
        await store.delete_turns(alices[:2])
        async with store.transaction() as db:
            await db.execute("DELETE FROM usage WHERE id = ?", (high[2],))
        user, model, lineage = await _step(store, "bob", "three")
        assert user > high[0] and model > high[0] and lineage > high[1]
        assert (await _everything_issued(store))[2] > high[2]

        # Retention removes every turn there is.
        high = await _everything_issued(store)
        async with store.transaction() as db:
            await db.execute("UPDATE turns SET created_at = 0")
        await store.delete_turns(await store.turns_older_than(time.time()))
        assert await store._rows("SELECT id FROM turns") == []
        user, _, lineage = await _step(store, "bob", "four")
        assert user > high[0] and lineage > high[1]
        high = await _everything_issued(store)
        await store.delete_turns(await store.turns_by_author("test", "bob"))

    async with Store.open(tmp_path) as store:
        user, _, lineage = await _step(store, "carol", "five")
        assert user > high[0] and lineage > high[1]


# Rows as a version-2 bot left them: ids 3, 4 (and lineage 2) were deleted, and are gone.
_OLD_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "lineages": [(1, "test", "c", 1.0), (3, "test", "c", 3.0)],
    "turns": [
        (1, 1, None, "user", "alice", "answered", None, None, 1.0, "en"),
        (2, 1, 1, "model", "model", "ok", "m", None, 1.5, None),
        (5, 3, None, "user", "bob", "answered", None, None, 3.0, None),
        (6, 3, 5, "model", "model", "ok", "m", None, 3.5, None),
        (7, 3, 6, "user", "bob", "failed", None, "boom", 4.0, "zh"),
    ],
    "images": [("a" * 64, "image/png", 3, 1.0)],
    "parts": [
        (1, 0, "blue", None, 0, None),
        (2, 0, None, "a" * 64, 0, '{"x":1}'),
        (5, 0, "red", None, 0, None),
        (6, 0, None, "a" * 64, 0, None),
        (7, 0, "again", None, 0, None),
    ],
    "links": [
        ("test", "c", "m1", 1),
        ("test", "c", "m2", 2),
        ("test", "c", "m5", 5),
        ("test", "c", "m6", 6),
        ("test", "c", "m7", 7),
    ],
    "chats": [("test", "c", 7, '{"language": "zh"}'), ("test", "d", None, "{}")],
    "usage": [
        (1, "test", "c", "alice", 2, 1, 5, 6, 11, 1.5, "c"),
        (2, "test", "c", "alice", None, 1, 1, 1, 2, 2.5, "c"),
        (4, "test", "c", "bob", 6, 1, 7, 8, 15, 3.5, "guild"),
    ],
}


async def _write_version_2_database(
    data_dir: Path, rows: dict[str, list[tuple[Any, ...]]] = _OLD_ROWS
) -> None:
    async with aiosqlite.connect(data_dir / DB_NAME, isolation_level=None) as db:
        for migration in MIGRATIONS[:2]:
            await migration(db, False)
        await db.execute("PRAGMA user_version=2")
        for table, values in rows.items():
            marks = ",".join("?" * len(values[0]))
            await db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)


async def test_a_version_2_database_migrates_with_every_row_and_a_gap(tmp_path: Path) -> None:
    data_dir = tmp_path
    await _write_version_2_database(data_dir)
    async with Store.open(data_dir) as store:
        assert (await store._rows("PRAGMA user_version"))[0][0] == len(MIGRATIONS) == 3
        assert (await store._rows("PRAGMA foreign_keys"))[0][0] == 1
        assert await store.integrity_check() == "ok"
        assert await store._rows("PRAGMA foreign_key_check") == []
        for table, rows in _OLD_ROWS.items():
            assert sorted(tuple(r) for r in await store._rows(f"SELECT * FROM {table}")) == rows
        indexes = await store._rows(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        assert {r[0] for r in indexes} == {
            "turns_parent",
            "turns_status",
            "turns_author",
            "turns_created",
            "parts_image",
            "links_turn",
            "usage_user",
            "usage_chat",
            "usage_pool",
        }
        schemas = await store._rows(
            "SELECT sql FROM sqlite_master WHERE name IN ('turns', 'lineages', 'usage')"
        )
        assert all("AUTOINCREMENT" in r[0] for r in schemas) and len(schemas) == 3

        answer = await store.resolve_link(CHAT, "m6")
        assert answer is not None and answer.role is Role.MODEL and answer.images
        assert [t.id for t in await store.path(7)] == [5, 6, 7]
        latest = await store.chat_latest(CHAT)
        assert latest is not None and latest.status is TurnStatus.FAILED
        assert (await store.usage_since("test", "alice", 0)).total_tokens == 13
        assert (await store.pool_usage_since("test", "guild", 0)).images == 1
        assert (await store.pending_turns("test")) == []
        assert await store.chat_settings(CHAT) == {"language": "zh"}

        # Foreign keys still point at the rebuilt tables: deleting cascades, as before.
        await store.delete_turns([1, 2])
        assert await store.resolve_link(CHAT, "m2") is None
        assert await store._rows("SELECT * FROM parts WHERE turn_id IN (1, 2)") == []
        assert [tuple(r) for r in await store._rows("SELECT id, turn_id FROM usage")] == [
            (1, None),
            (2, None),
            (4, 6),
        ]

        # Buttons posted before the upgrade may name ids 3, 4 or more: new ids start past the gap.
        user, model, lineage = await _step(store, "carol", "new")
    assert user == 7 + ID_GAP + 1 and model == user + 1
    assert lineage == 3 + ID_GAP + 1


async def test_a_migration_that_would_leave_a_broken_reference_is_rolled_back(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path
    # A reference that was already dangling (written with foreign keys off) fails the check.
    rows = {**_OLD_ROWS, "links": [*_OLD_ROWS["links"], ("test", "c", "m9", 9)]}
    await _write_version_2_database(data_dir, rows)
    with pytest.raises(sqlite3.IntegrityError, match="links"):
        async with Store.open(data_dir):
            pass
    async with aiosqlite.connect(data_dir / DB_NAME) as db:
        assert list(await db.execute_fetchall("PRAGMA user_version")) == [(2,)]
        schema = list(await db.execute_fetchall("SELECT sql FROM sqlite_master"))
        assert not any("AUTOINCREMENT" in (r[0] or "") for r in schema)
        assert len(list(await db.execute_fetchall("SELECT * FROM turns"))) == 5


async def test_a_new_database_starts_its_ids_at_one(tmp_path: Path) -> None:
    async with Store.open(tmp_path) as store:
        assert await _step(store, "alice", "first") == (1, 2, 1)

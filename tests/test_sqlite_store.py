"""The SQLite store itself: its files, pragmas, transactions, id sequences and migrations.

What every store promises is checked in `test_store_contract.py`; these tests look at what only
SQLite has: the database file and its schema, the image files beside it, its transactions.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.lineage import Part, Role, TurnStatus
from bot.request import Author, ChatKey
from bot.store import UsageRecord
from bot.store.sqlite import DB_NAME, ID_GAP, MIGRATIONS, SqliteStore
from tests.conftest import RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake

CHAT = ChatKey("test", "c")


async def test_a_new_database_is_in_wal_mode_with_foreign_keys_on(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:
        assert (await store._rows("PRAGMA journal_mode"))[0][0] == "wal"
        assert (await store._rows("PRAGMA foreign_keys"))[0][0] == 1
        assert (await store._rows("PRAGMA busy_timeout"))[0][0] == 5000
        assert (await store._rows("PRAGMA user_version"))[0][0] == len(MIGRATIONS)
        assert await store.integrity_check() == "ok"
    assert (tmp_path / DB_NAME).is_file() and (tmp_path / "images").is_dir()


async def test_identical_images_are_stored_once(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:
        a = await store.put_image(b"same bytes", "image/png")
        b = await store.put_image(b"same bytes", "image/png")
    assert a == b
    assert len([p for p in (tmp_path / "images").rglob("*") if p.is_file()]) == 1


async def test_image_files_are_named_by_hash_and_leave_the_disk_when_unused(
    tmp_path: Path,
) -> None:
    async with SqliteStore.open(tmp_path) as store:
        kept = await store.put_image(b"kept", "image/png")
        dropped = await store.put_image(b"dropped", "image/png")
        user = await store.add_user_turn(CHAT, "a", None, [Part(image=kept), Part(text="x")])
        other = await store.add_user_turn(CHAT, "b", None, [Part(image=dropped)])
        assert store.image_path(kept) == tmp_path / "images" / kept.sha256[:2] / kept.sha256
        assert store.image_path(dropped).read_bytes() == b"dropped"
        await store.delete_turns([other.id])
        assert not store.image_path(dropped).exists()
        assert store.image_path(kept).read_bytes() == b"kept"
        await store.delete_turns([user.id])
        assert not store.image_path(kept).exists()
    assert [p for p in (tmp_path / "images").rglob("*") if p.is_file()] == []


async def test_a_collection_racing_a_put_leaves_the_row_and_the_file(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:
        first = await store.put_image(b"again", "image/png")
        old = await store.add_user_turn(CHAT, "a", None, [Part(image=first)])
        # The same bytes are put again while the only turn using them is being deleted: the
        # collection is queued on the database thread before the new put's row.
        ref, _ = await asyncio.gather(
            store.put_image(b"again", "image/png"), store.delete_turns([old.id])
        )
        assert await store.read_image(ref) == b"again"
        rows = await store._rows("SELECT COUNT(*) FROM images WHERE sha256 = ?", (ref.sha256,))
        assert rows[0][0] == 1
        new = await store.add_user_turn(CHAT, "a", None, [Part(image=ref)])
        await store.delete_turns([new.id])
        assert not store.image_path(ref).exists()


async def test_a_closed_store_refuses_work_instead_of_hanging(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.wait_for(store.chat_settings(CHAT), 10)
    await store.database.close()  # a second close is harmless


async def test_failed_transaction_rolls_back_only_itself(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:

        def doomed(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO lineages (platform, chat_id, created_at) VALUES ('x', 'y', 0)")
            raise RuntimeError("boom")

        results = await asyncio.gather(
            store.database.write(doomed),
            store.add_user_turn(CHAT, "bob", None, [Part(text="hi")], message_ids=["ok"]),
            return_exceptions=True,
        )
        assert isinstance(results[0], RuntimeError)
        assert await store.resolve_link(CHAT, "ok") is not None
        rows = await store._rows("SELECT COUNT(*) FROM lineages WHERE platform = 'x'")
        assert rows[0][0] == 0


async def test_a_cancelled_write_commits_whole_and_close_finishes_queued_work(
    tmp_path: Path,
) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow_insert(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO lineages (platform, chat_id, created_at) VALUES ('x', '1', 0)")
        started.set()
        assert release.wait(10)
        db.execute("INSERT INTO lineages (platform, chat_id, created_at) VALUES ('x', '2', 0)")

    async with SqliteStore.open(tmp_path) as store:
        task = asyncio.create_task(store.database.write(slow_insert))
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()  # the caller gives up while its transaction runs
        queued = asyncio.create_task(store.chat_settings(CHAT))  # work queued behind it
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await asyncio.wait_for(queued, 10) == {}  # closing let it finish first
    # Both rows or neither: the transaction was never cut between its statements.
    with closing(sqlite3.connect(tmp_path / DB_NAME)) as db:
        assert db.execute("SELECT COUNT(*) FROM lineages WHERE platform = 'x'").fetchone() == (2,)


async def test_200_concurrent_steps_from_different_chats(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        fake.latency = 0.01
        settings = make_settings(tmp_path / "data", fake, max_concurrent_requests=50)
        async with open_engine(settings) as engine:
            outboxes = [RecordingOutbox() for _ in range(200)]
            image = photo()
            await asyncio.gather(
                *(
                    engine.handle(
                        request(
                            "edit", image, chat=ChatKey("test", f"c{i}"), author=Author(f"u{i}")
                        ),
                        box,
                    )
                    for i, box in enumerate(outboxes)
                )
            )
    async with SqliteStore.open(settings.storage.data_dir) as store:
        counts = await store._rows("SELECT role, status, COUNT(*) FROM turns GROUP BY 1, 2")
        links = await store._rows("SELECT COUNT(*) FROM links")
        assert await store.integrity_check() == "ok"
    assert sorted(tuple(r) for r in counts) == [
        (Role.MODEL.value, "ok", 200),
        (Role.USER.value, "answered", 200),
    ]
    assert links[0][0] == 400  # each user message and each posted result
    assert all(box.success.images for box in outboxes)


async def _everything_issued(store: SqliteStore) -> tuple[int, int, int]:
    rows = await store._rows(
        "SELECT (SELECT MAX(id) FROM turns), (SELECT MAX(id) FROM lineages),"
        " (SELECT MAX(id) FROM usage)"
    )
    return int(rows[0][0] or 0), int(rows[0][1] or 0), int(rows[0][2] or 0)


async def _step(store: SqliteStore, author: str, text: str) -> tuple[int, int, int]:
    """A user turn in a new lineage and its answer: (user turn, model turn, lineage)."""
    user = await store.add_user_turn(CHAT, author, None, [Part(text=text)], message_ids=[text])
    model = await store.add_model_turn(
        CHAT, user, "m", [Part(text="done")], UsageRecord(images=1), author
    )
    return user.id, model.id, user.lineage_id


async def test_ids_of_deleted_rows_and_usage_are_never_issued_again(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:
        await _step(store, "bob", "one")
        alices = await _step(store, "alice", "two")
        high = await _everything_issued(store)
        # The newest turns (and with them their lineage) go, as /forget does.
        await store.delete_turns(alices[:2])
        await store.database.write(
            lambda db: db.execute("DELETE FROM usage WHERE id = ?", (high[2],))
        )
        user, model, lineage = await _step(store, "bob", "three")
        assert user > high[0] and model > high[0] and lineage > high[1]
        assert (await _everything_issued(store))[2] > high[2]

        # Retention removes every turn there is.
        high = await _everything_issued(store)
        await store.database.write(lambda db: db.execute("UPDATE turns SET created_at = 0"))
        await store.delete_turns(await store.turns_older_than(time.time()))
        assert await store._rows("SELECT id FROM turns") == []
        user, _, lineage = await _step(store, "bob", "four")
        assert user > high[0] and lineage > high[1]
        high = await _everything_issued(store)
        await store.delete_turns(await store.turns_by_author("test", "bob"))

    async with SqliteStore.open(tmp_path) as store:
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


def _write_version_2_database(
    data_dir: Path, rows: dict[str, list[tuple[Any, ...]]] = _OLD_ROWS
) -> None:
    with closing(sqlite3.connect(data_dir / DB_NAME, isolation_level=None)) as db:
        for migration in MIGRATIONS[:2]:
            migration(db, False)
        db.execute("PRAGMA user_version=2")
        for table, values in rows.items():
            marks = ",".join("?" * len(values[0]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)


async def test_a_version_2_database_migrates_with_every_row_and_a_gap(tmp_path: Path) -> None:
    data_dir = tmp_path
    _write_version_2_database(data_dir)
    async with SqliteStore.open(data_dir) as store:
        assert (await store._rows("PRAGMA user_version"))[0][0] == len(MIGRATIONS) == 6
        assert (await store._rows("PRAGMA foreign_keys"))[0][0] == 1
        assert await store.integrity_check() == "ok"
        assert await store._rows("PRAGMA foreign_key_check") == []
        for table, rows in _OLD_ROWS.items():
            kept = [tuple(r)[: len(rows[0])] for r in await store._rows(f"SELECT * FROM {table}")]
            assert sorted(kept) == rows  # later migrations only add columns after these
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
            "refs_owner",
            "ref_images_image",
            "holds_user",
            "holds_pool",
            "gathered_key",
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
    _write_version_2_database(data_dir, rows)
    with pytest.raises(sqlite3.IntegrityError, match="links"):
        async with SqliteStore.open(data_dir):
            pass
    with closing(sqlite3.connect(data_dir / DB_NAME)) as db:
        assert db.execute("PRAGMA user_version").fetchall() == [(2,)]
        schema = db.execute("SELECT sql FROM sqlite_master").fetchall()
        assert not any("AUTOINCREMENT" in (r[0] or "") for r in schema)
        assert len(db.execute("SELECT * FROM turns").fetchall()) == 5


async def test_a_new_database_starts_its_ids_at_one(tmp_path: Path) -> None:
    async with SqliteStore.open(tmp_path) as store:
        assert await _step(store, "alice", "first") == (1, 2, 1)

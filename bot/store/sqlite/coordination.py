"""`Coordination` on SQLite: one process serves a data_dir, so every other run is gone.

Exclusive sections are this process's locks. Holds, marks and gathered items are still rows,
so the rules (and the contract tests) are the same as on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from bot.coordination import Hold, Holdings, Instance
from bot.store import PendingTurn
from bot.store.rows import (
    HOLD_MAX_AGE_S,
    PENDING_COLUMNS,
    holdings_sql,
    pending_turns_from_rows,
)
from bot.store.sqlite.connection import Database, lastrowid, rows

_HOLDINGS_SQL = holdings_sql(":p", ":u", ":pool", ":since", ":old")


class SqliteCoordination:
    """Coordination for the one process that serves a SQLite data_dir."""

    def __init__(self, db: Database, instance: Instance) -> None:
        self._db = db
        self._instance = instance
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def instance(self) -> Instance:
        return self._instance

    @property
    def shared(self) -> bool:
        return False

    async def start(self) -> None:
        """Drop what runs before this one held: none of them is running any more."""

        def clean(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM holds WHERE run != ?", (self._instance.run,))
            # Groups nobody will take: their waiters ended with the process that gathered them.
            db.execute("DELETE FROM gathered")

        await self._db.write(clean)

    @asynccontextmanager
    async def alive(self) -> AsyncIterator[None]:
        async with self._lock("instance"):
            yield

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        lock = self._lock(name)
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    @asynccontextmanager
    async def serialized(self, name: str) -> AsyncIterator[None]:
        async with self._lock(name):
            yield

    async def mark(self, name: str) -> str | None:
        found = await self._db.run(
            lambda db: rows(db, "SELECT value FROM marks WHERE name = ?", (name,))
        )
        return str(found[0][0]) if found else None

    async def marks(self, names: Sequence[str]) -> dict[str, str]:
        wanted = list(names)
        found = await self._db.run(
            lambda db: rows(
                db,
                f"SELECT name, value FROM marks WHERE name IN ({','.join('?' * len(wanted))})",
                tuple(wanted),
            )
        )
        return {str(r[0]): str(r[1]) for r in found}

    async def set_mark(self, name: str, value: str | None) -> None:
        def write(db: sqlite3.Connection) -> None:
            if value is None:
                db.execute("DELETE FROM marks WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT INTO marks (name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )

        await self._db.write(write)

    async def hold(self, hold: Hold, since: float, admit: Callable[[Holdings], None]) -> int:
        now = time.time()

        def take(db: sqlite3.Connection) -> int:
            params = {
                "p": hold.platform,
                "u": hold.user_id,
                "pool": hold.pool,
                "since": since,
                "old": now - HOLD_MAX_AGE_S,
            }
            admit(Holdings.of(db.execute(_HOLDINGS_SQL, params).fetchone()))
            cur = db.execute(
                "INSERT INTO holds (run, platform, user_id, pool, images, cost_usd, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self._instance.run,
                    hold.platform,
                    hold.user_id,
                    hold.pool,
                    hold.images,
                    hold.cost_usd,
                    now,
                ),
            )
            return lastrowid(cur)

        return await self._db.write(take)

    async def release(self, hold_id: int) -> None:
        await self._db.write(lambda db: db.execute("DELETE FROM holds WHERE id = ?", (hold_id,)))

    async def gather(self, key: str, item: str) -> None:
        now = time.time()
        await self._db.write(
            lambda db: db.execute(
                "INSERT INTO gathered (key, item, arrived_at) VALUES (?, ?, ?)", (key, item, now)
            )
        )

    async def take(self, key: str, quiet_s: float, max_wait_s: float) -> Sequence[str] | float:
        def take(db: sqlite3.Connection) -> list[str] | float:
            found = rows(
                db, "SELECT id, item, arrived_at FROM gathered WHERE key = ? ORDER BY id", (key,)
            )
            if not found:
                return []
            arrivals = [float(r[2]) for r in found]
            wait = min(max(arrivals) + quiet_s, min(arrivals) + max_wait_s) - time.time()
            if wait > 0:
                return wait
            db.execute("DELETE FROM gathered WHERE key = ?", (key,))
            return [str(r[1]) for r in found]

        return await self._db.write(take)

    async def claim_interrupted(self, platform: str) -> list[PendingTurn]:
        def claim(db: sqlite3.Connection) -> list[PendingTurn]:
            found = rows(
                db,
                f"SELECT {PENDING_COLUMNS} FROM turns t JOIN lineages l ON l.id = t.lineage_id"
                " WHERE t.status = 'pending' AND l.platform = ?"
                " AND (t.run IS NULL OR t.run != ?)",
                (platform, self._instance.run),
            )
            db.executemany(
                "UPDATE turns SET status = 'failed', error = 'interrupted' WHERE id = ?",
                [(r[0],) for r in found],
            )
            return pending_turns_from_rows(platform, found)

        return await self._db.write(claim)

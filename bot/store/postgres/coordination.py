"""`Coordination` on PostgreSQL: several instances agree through transactions and locks.

- An instance is alive while it holds the session advisory lock on its name, on a connection
  of its own: PostgreSQL lets go of it when the process dies, however it dies (kill -9 closes
  the socket). `instances` says which run holds each name now.
- Exclusive sections are session advisory locks on a pool connection; holds and gathered
  items are rows written under transaction advisory locks on their user, pool or group.
- Times that several instances compare are the database's clock, never a process's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg

from bot.coordination import Hold, Holdings, Instance
from bot.store import PendingTurn
from bot.store.rows import (
    HOLD_MAX_AGE_S,
    PENDING_COLUMNS,
    holdings_sql,
    pending_turns_from_rows,
)

log = logging.getLogger(__name__)

# The first key of each two-key advisory lock: what kind of name the second one hashes.
INSTANCE_LOCKS = 4242010
EXCLUSIVE_LOCKS = 4242011
QUOTA_LOCKS = 4242012
GATHER_LOCKS = 4242013
GATHERED_MAX_AGE_S = 86400.0  # album items nobody took (every instance that had them died)
RECONNECT_S = (0.5, 1.0, 2.0, 5.0)  # waits between attempts to take the name again

NOW = "extract(epoch from clock_timestamp())"
_HOLDINGS_SQL = holdings_sql("$1", "$2", "$3", "$4", "$5")


class PostgresCoordination:
    """Coordination of the instances sharing one PostgreSQL database."""

    def __init__(self, pool: Any, url: str, instance: Instance) -> None:
        self._pool = pool
        self._url = url
        self._instance = instance

    @property
    def instance(self) -> Instance:
        return self._instance

    @property
    def shared(self) -> bool:
        return True

    @asynccontextmanager
    async def alive(self) -> AsyncIterator[None]:
        conn = await self._take_name()
        keeper = asyncio.create_task(self._keep_name(conn), name="instance-name")
        try:
            yield
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper

    async def _take_name(self) -> Any:
        """A connection holding this instance's name, its run recorded in `instances`."""
        name = self._instance.name
        conn = await asyncpg.connect(self._url)
        try:
            key = (INSTANCE_LOCKS, name)
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", *key):
                log.warning(
                    "another process runs as instance %r: waiting for it to stop (give each "
                    "instance its own [storage] instance or BANANABOT_INSTANCE)",
                    name,
                )
                await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", *key)
            await conn.execute(
                "INSERT INTO instances (name, run, started_at) VALUES ($1, $2, " + NOW + ")"
                " ON CONFLICT (name) DO UPDATE SET run = excluded.run,"
                " started_at = excluded.started_at",
                name,
                self._instance.run,
            )
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _keep_name(self, conn: Any) -> None:
        """Hold the name until cancelled; take it again when the connection is lost (the
        database restarted), so peers never take this run for a dead one for long."""
        try:
            while True:
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                while not conn.is_closed() and not lost.is_set():
                    with suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5.0)
                    if not lost.is_set():
                        with suppress(Exception):
                            await conn.fetchval("SELECT 1")  # notices a silent drop
                log.warning("lost the database connection holding the instance name")
                conn = await self._retake_name()
        finally:
            if not conn.is_closed():
                await conn.close()  # lets go of the name

    async def _retake_name(self) -> Any:
        attempt = 0
        while True:
            try:
                return await self._take_name()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)])
                attempt += 1

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        async with self._pool.acquire() as conn:
            key = (EXCLUSIVE_LOCKS, name)
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", *key))
            try:
                yield got
            finally:
                if got:
                    await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", *key)

    @asynccontextmanager
    async def serialized(self, name: str) -> AsyncIterator[None]:
        async with self._pool.acquire() as conn:
            key = (EXCLUSIVE_LOCKS, name)
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", *key)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", *key)

    async def mark(self, name: str) -> str | None:
        async with self._pool.acquire() as conn:
            value: str | None = await conn.fetchval(
                "SELECT value FROM marks WHERE name = $1", name
            )
        return value

    async def marks(self, names: Sequence[str]) -> dict[str, str]:
        async with self._pool.acquire() as conn:
            found = await conn.fetch(
                "SELECT name, value FROM marks WHERE name = ANY($1::text[])", list(names)
            )
        return {r["name"]: r["value"] for r in found}

    async def set_mark(self, name: str, value: str | None) -> None:
        async with self._pool.acquire() as conn:
            if value is None:
                await conn.execute("DELETE FROM marks WHERE name = $1", name)
            else:
                await conn.execute(
                    "INSERT INTO marks (name, value) VALUES ($1, $2)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    name,
                    value,
                )

    async def hold(self, hold: Hold, since: float, admit: Callable[[Holdings], None]) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # Always the user's lock before the pool's: no two steps wait on each other.
            for kind, key in (("user", hold.user_id), ("pool", hold.pool)):
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    QUOTA_LOCKS,
                    f"{kind}:{hold.platform}:{key}",
                )
            now = float(await conn.fetchval("SELECT " + NOW))
            found = await conn.fetchrow(
                _HOLDINGS_SQL,
                hold.platform,
                hold.user_id,
                hold.pool,
                since,
                now - HOLD_MAX_AGE_S,
            )
            admit(Holdings.of(list(found)))
            hold_id: int = await conn.fetchval(
                "INSERT INTO holds (run, platform, user_id, pool, images, cost_usd, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                self._instance.run,
                hold.platform,
                hold.user_id,
                hold.pool,
                hold.images,
                hold.cost_usd,
                now,
            )
        return hold_id

    async def release(self, hold_id: int) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM holds WHERE id = $1", hold_id)

    async def gather(self, key: str, item: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO gathered (key, item, arrived_at) VALUES ($1, $2, " + NOW + ")",
                key,
                item,
            )

    async def take(self, key: str, quiet_s: float, max_wait_s: float) -> Sequence[str] | float:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", GATHER_LOCKS, key)
            found = await conn.fetch(
                "SELECT id, item, arrived_at, " + NOW + " AS now FROM gathered"
                " WHERE key = $1 ORDER BY id",
                key,
            )
            if not found:
                return []
            arrivals = [float(r["arrived_at"]) for r in found]
            wait = min(max(arrivals) + quiet_s, min(arrivals) + max_wait_s) - float(
                found[0]["now"]
            )
            if wait > 0:
                return wait
            await conn.execute(
                "DELETE FROM gathered WHERE id = ANY($1::bigint[])", [r["id"] for r in found]
            )
        return [str(r["item"]) for r in found]

    async def claim_interrupted(self, platform: str) -> list[PendingTurn]:
        async with self._pool.acquire() as conn, conn.transaction():
            runs = await conn.fetch(
                "SELECT DISTINCT r.run, i.name FROM"
                " (SELECT t.run FROM turns t JOIN lineages l ON l.id = t.lineage_id"
                "  WHERE t.status = 'pending' AND l.platform = $1"
                "  UNION SELECT run FROM holds) r"
                " LEFT JOIN instances i ON i.run = r.run",
                platform,
            )
            gone = await _gone(conn, runs, self._instance.run)
            if not gone and not any(r["run"] is None for r in runs):
                return []
            found = await conn.fetch(
                "UPDATE turns t SET status = 'failed', error = 'interrupted'"
                " FROM lineages l WHERE l.id = t.lineage_id AND l.platform = $1"
                " AND t.status = 'pending' AND (t.run IS NULL OR t.run = ANY($2::text[]))"
                f" RETURNING {PENDING_COLUMNS}",
                platform,
                gone,
            )
            await conn.execute("DELETE FROM holds WHERE run = ANY($1::text[])", gone)
            await conn.execute(
                "DELETE FROM gathered WHERE arrived_at < " + NOW + " - $1", GATHERED_MAX_AGE_S
            )
        return pending_turns_from_rows(platform, found)


async def _gone(conn: Any, runs: Sequence[Any], mine: str) -> list[str]:
    """The runs in `runs` (run, name of the instance it is recorded for) that are gone.

    A run is gone when its name is held by another run now (the instance restarted), or when
    nobody holds the name (the instance stopped). The name's lock is taken for the rest of the
    caller's transaction, so a restarting instance waits until the claim is committed.
    """
    gone = []
    for row in runs:
        run, name = row["run"], row["name"]
        if run is None or run == mine:
            continue
        if name is None or await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", INSTANCE_LOCKS, name
        ):
            gone.append(run)
    return gone

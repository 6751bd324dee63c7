"""One SQLite connection on one thread of its own; each store operation is one trip to it.

A store operation (a whole transaction, or a read with its follow-up queries) is a plain
function over `sqlite3.Connection`, run on the connection's thread in one hop. The thread runs
one function at a time, so transactions never interleave: no task's rollback can touch another
task's writes, and no lock is needed. (aiosqlite, used before, crosses threads once per
statement: 7 hops for one turn, each waking the event loop; a step took ~28.)
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)

# What the thread runs: the work, and where its result goes (None: stop the thread).
_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]] | None


class Database:
    """Open with `await Database.open(path)`; `close()` when done."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # A bare queue and thread rather than an executor: a trip is two thread switches and
        # one event-loop wake-up, without concurrent.futures' locks and callbacks.
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Connect (autocommit: transactions are explicit) and set the connection's pragmas."""

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                for pragma in PRAGMAS:
                    conn.execute(pragma)
            except BaseException:
                conn.close()
                raise
            return conn

        return cls(await asyncio.to_thread(connect))

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            work, future = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = work(self._conn)
            except BaseException as exc:  # handed to the awaiting task
                error = exc
            # A closed loop raises RuntimeError: nobody waits for this any more.
            with contextlib.suppress(RuntimeError):
                future.get_loop().call_soon_threadsafe(_settle, future, result, error)
        self._conn.close()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the connection's thread, outside any transaction (reads, pragmas)."""
        if self._closed:  # the thread is gone or going: the job would wait forever
            raise RuntimeError("the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((work, future))
        return await future

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` as one transaction: committed when this returns, rolled back on error.

        A caller cancelled while waiting does not stop the transaction: it commits or rolls
        back as a whole, like every other.
        """
        return await self.run(lambda conn: transaction(conn, work))

    async def close(self) -> None:
        """Finish the work already queued, then close the connection."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` between BEGIN IMMEDIATE and COMMIT, or ROLLBACK when it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def rows(
    conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()
) -> list[tuple[Any, ...]]:
    """Every row of one query."""
    return conn.execute(sql, params).fetchall()


def lastrowid(cur: sqlite3.Cursor) -> int:
    """The id SQLite gave the row an INSERT just wrote."""
    rowid = cur.lastrowid
    if rowid is None:  # pragma: no cover - sqlite always sets it after an INSERT
        raise RuntimeError("INSERT returned no rowid")
    return rowid

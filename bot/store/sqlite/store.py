"""The `Store` on one SQLite file: lineages, turns, links, chat settings and the usage ledger.

One aiosqlite connection in autocommit mode. Tasks sharing a connection share its transaction, so
every write goes through `transaction()`, which holds a lock: one task's rollback can never
discard another task's insert. Image bytes live in files beside the database (`images`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus, UsageRecord
from bot.request import ChatKey
from bot.store import PendingTurn, Store, UsageTotals
from bot.store.sqlite.images import ImageFiles
from bot.store.sqlite.schema import migrate
from bot.store.sqlite.turn_rows import TURN_COLUMNS, insert_turn, lastrowid, load_turns, new_turn

DB_NAME = "bananabot.sqlite3"
IMAGES_DIR = "images"


class SqliteStore:
    """The bot's persistent state. Open with `async with SqliteStore.open(data_dir) as store:`."""

    def __init__(self, db: aiosqlite.Connection, data_dir: Path) -> None:
        self._db = db
        self._images = ImageFiles(data_dir / IMAGES_DIR)
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, data_dir: Path) -> AsyncIterator[SqliteStore]:
        """Open (creating and migrating) the store in `data_dir`."""
        ImageFiles(data_dir / IMAGES_DIR).create_folder()
        db = await aiosqlite.connect(data_dir / DB_NAME, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            store = cls(db, data_dir)
            await migrate(db, store.transaction)
            yield store
        finally:
            await db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run writes atomically; roll back on any error."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, params))

    async def put_image(self, data: bytes, mime_type: str) -> ImageRef:
        """Store image bytes once (content-addressed) and return their reference."""
        digest = await self._images.write(data)
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO images (sha256, mime_type, size, created_at) "
                "VALUES (?, ?, ?, ?)",
                (digest, mime_type, len(data), time.time()),
            )
        return ImageRef(digest, mime_type, len(data))

    async def read_image(self, ref: ImageRef) -> bytes:
        """Read stored image bytes."""
        return await self._images.read(ref.sha256)

    def image_path(self, ref: ImageRef) -> Path:
        """Where the image file lives (for tools)."""
        return self._images.path(ref.sha256)

    async def add_user_turn(
        self,
        chat: ChatKey,
        author_id: str,
        parent_id: int | None,
        parts: Sequence[Part],
        *,
        message_ids: Sequence[str] = (),
        status: TurnStatus = TurnStatus.PENDING,
        locale: str | None = None,
    ) -> Turn:
        """Store a user turn (a new lineage when `parent_id` is None), link its messages."""
        now = time.time()
        async with self.transaction() as db:
            if parent_id is None:
                cur = await db.execute(
                    "INSERT INTO lineages (platform, chat_id, created_at) VALUES (?, ?, ?)",
                    (chat.platform, chat.chat_id, now),
                )
                lineage_id = lastrowid(cur)
            else:
                lineage_id = await self._lineage_of(parent_id)
            turn_id = await insert_turn(
                db, lineage_id, parent_id, Role.USER, author_id, status, None, parts, now, locale
            )
            await self._insert_links(chat, message_ids, turn_id)
            await self._set_latest(chat, turn_id)
        return new_turn(
            turn_id, lineage_id, parent_id, Role.USER, author_id, status, parts, None, now
        )

    async def add_model_turn(
        self,
        chat: ChatKey,
        user_turn: Turn,
        model: str,
        parts: Sequence[Part],
        usage: UsageRecord,
        author_id: str,
    ) -> Turn:
        """Store the model's answer to `user_turn`, mark it answered, record usage."""
        now = time.time()
        async with self.transaction() as db:
            turn_id = await insert_turn(
                db,
                user_turn.lineage_id,
                user_turn.id,
                Role.MODEL,
                "model",
                TurnStatus.OK,
                model,
                parts,
                now,
            )
            await db.execute(
                "UPDATE turns SET status = ?, error = NULL WHERE id = ?",
                (TurnStatus.ANSWERED, user_turn.id),
            )
            await self._set_latest(chat, turn_id)
            await db.execute(
                "INSERT INTO usage (platform, chat_id, pool, user_id, turn_id, images,"
                " prompt_tokens, output_tokens, total_tokens, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat.platform,
                    chat.chat_id,
                    chat.pool,
                    author_id,
                    turn_id,
                    usage.images,
                    usage.prompt_tokens,
                    usage.output_tokens,
                    usage.total_tokens,
                    now,
                ),
            )
        return new_turn(
            turn_id,
            user_turn.lineage_id,
            user_turn.id,
            Role.MODEL,
            "model",
            TurnStatus.OK,
            parts,
            model,
            now,
        )

    async def set_status(self, turn_id: int, status: TurnStatus, error: str | None = None) -> None:
        """Mark a user turn failed, pending again, or draft."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE turns SET status = ?, error = ? WHERE id = ?", (status, error, turn_id)
            )

    async def _lineage_of(self, turn_id: int) -> int:
        rows = await self._rows("SELECT lineage_id FROM turns WHERE id = ?", (turn_id,))
        if not rows:
            raise LookupError(f"turn {turn_id} does not exist")
        return int(rows[0][0])

    async def _insert_links(self, chat: ChatKey, message_ids: Iterable[str], turn_id: int) -> None:
        await self._db.executemany(
            "INSERT OR REPLACE INTO links (platform, chat_id, message_id, turn_id)"
            " VALUES (?, ?, ?, ?)",
            [(chat.platform, chat.chat_id, m, turn_id) for m in message_ids],
        )

    async def _set_latest(self, chat: ChatKey, turn_id: int) -> None:
        await self._db.execute(
            "INSERT INTO chats (platform, chat_id, latest_turn_id) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, chat_id)"
            " DO UPDATE SET latest_turn_id = excluded.latest_turn_id",
            (chat.platform, chat.chat_id, turn_id),
        )

    async def link(self, chat: ChatKey, message_ids: Iterable[str], turn_id: int) -> None:
        """Link posted messages to the turn they show."""
        ids = list(message_ids)
        if ids:
            async with self.transaction():
                await self._insert_links(chat, ids, turn_id)

    async def resolve_link(self, chat: ChatKey, message_id: str) -> Turn | None:
        """The turn a message in `chat` shows, if any."""
        rows = await self._rows(
            "SELECT turn_id FROM links WHERE platform = ? AND chat_id = ? AND message_id = ?",
            (chat.platform, chat.chat_id, message_id),
        )
        return await self.get_turn(int(rows[0][0])) if rows else None

    async def links_of(self, turn_id: int) -> list[tuple[str, str, str]]:
        """(platform, chat id, message id) of every message linked to a turn."""
        rows = await self._rows(
            "SELECT platform, chat_id, message_id FROM links WHERE turn_id = ?", (turn_id,)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def message_ids(self, chat: ChatKey, prefix: str = "") -> list[str]:
        """Linked message ids in `chat` that start with `prefix`."""
        rows = await self._rows(
            "SELECT message_id FROM links WHERE platform = ? AND chat_id = ?"
            " AND substr(message_id, 1, ?) = ?",
            (chat.platform, chat.chat_id, len(prefix), prefix),
        )
        return [r[0] for r in rows]

    async def get_turn(self, turn_id: int) -> Turn | None:
        """Load one turn with its parts."""
        turns = await load_turns(
            self._db, f"SELECT {TURN_COLUMNS} FROM turns t WHERE t.id = ?", (turn_id,)
        )
        return turns[0] if turns else None

    async def path(self, turn_id: int) -> list[Turn]:
        """The turns from the root of the lineage down to `turn_id`, root first."""
        return await load_turns(
            self._db,
            "WITH RECURSIVE up(id, depth) AS ("
            " SELECT ?, 0 UNION ALL"
            " SELECT t.parent_id, up.depth + 1 FROM turns t JOIN up ON t.id = up.id"
            " WHERE t.parent_id IS NOT NULL)"
            f" SELECT {TURN_COLUMNS} FROM up JOIN turns t ON t.id = up.id ORDER BY up.depth DESC",
            (turn_id,),
        )

    async def latest_answer(self, user_turn_id: int) -> Turn | None:
        """The newest model turn answering `user_turn_id`."""
        turns = await load_turns(
            self._db,
            f"SELECT {TURN_COLUMNS} FROM turns t"
            " WHERE t.parent_id = ? AND t.role = 'model' ORDER BY t.id DESC LIMIT 1",
            (user_turn_id,),
        )
        return turns[0] if turns else None

    async def chat_latest(self, chat: ChatKey) -> Turn | None:
        """The chat's most recent turn (a result, or a user turn still waiting)."""
        rows = await self._rows(
            "SELECT latest_turn_id FROM chats WHERE platform = ? AND chat_id = ?",
            (chat.platform, chat.chat_id),
        )
        if not rows or rows[0][0] is None:
            return None
        return await self.get_turn(int(rows[0][0]))

    async def clear_latest(self, chat: ChatKey) -> None:
        """Forget the chat's latest turn (/new): the next message starts a lineage."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE chats SET latest_turn_id = NULL WHERE platform = ? AND chat_id = ?",
                (chat.platform, chat.chat_id),
            )

    async def lineage_chat(self, turn_id: int) -> tuple[str, str] | None:
        """(platform, chat id) where the turn's lineage started."""
        rows = await self._rows(
            "SELECT l.platform, l.chat_id FROM turns t JOIN lineages l ON l.id = t.lineage_id"
            " WHERE t.id = ?",
            (turn_id,),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    async def pending_turns(self, platform: str) -> list[PendingTurn]:
        """User turns stored but never answered on `platform` (the process died mid-call)."""
        rows = await self._rows(
            "SELECT t.id, l.chat_id, t.author_id, t.locale,"
            " (SELECT message_id FROM links k WHERE k.turn_id = t.id LIMIT 1)"
            " FROM turns t JOIN lineages l ON l.id = t.lineage_id"
            " WHERE t.status = 'pending' AND l.platform = ? ORDER BY t.id",
            (platform,),
        )
        return [PendingTurn(int(r[0]), ChatKey(platform, r[1]), r[2], r[3], r[4]) for r in rows]

    async def chat_settings(self, chat: ChatKey) -> dict[str, str]:
        """Per-chat choices (aspect ratio, size, model, language)."""
        rows = await self._rows(
            "SELECT settings FROM chats WHERE platform = ? AND chat_id = ?",
            (chat.platform, chat.chat_id),
        )
        return dict(json.loads(rows[0][0])) if rows else {}

    async def update_chat_settings(self, chat: ChatKey, changes: dict[str, str | None]) -> None:
        """Set (or, with None, clear) per-chat settings."""
        async with self.transaction() as db:
            rows = await db.execute_fetchall(
                "SELECT settings FROM chats WHERE platform = ? AND chat_id = ?",
                (chat.platform, chat.chat_id),
            )
            first = next(iter(rows), None)
            current: dict[str, str] = dict(json.loads(first[0])) if first else {}
            for key, value in changes.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            await db.execute(
                "INSERT INTO chats (platform, chat_id, settings) VALUES (?, ?, ?)"
                " ON CONFLICT (platform, chat_id) DO UPDATE SET settings = excluded.settings",
                (chat.platform, chat.chat_id, json.dumps(current, sort_keys=True)),
            )

    async def usage_since(self, platform: str, user_id: str, since: float) -> UsageTotals:
        """A user's images and tokens since a time."""
        rows = await self._rows(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(total_tokens), 0) FROM usage"
            " WHERE platform = ? AND user_id = ? AND created_at >= ?",
            (platform, user_id, since),
        )
        return UsageTotals(int(rows[0][0]), int(rows[0][1]))

    async def pool_usage_since(self, platform: str, pool: str, since: float) -> UsageTotals:
        """A chat's (or guild's) images and tokens since a time."""
        rows = await self._rows(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(total_tokens), 0) FROM usage"
            " WHERE platform = ? AND pool = ? AND created_at >= ?",
            (platform, pool, since),
        )
        return UsageTotals(int(rows[0][0]), int(rows[0][1]))

    async def turns_by_author(self, platform: str, author_id: str) -> list[int]:
        """Ids of the user turns `author_id` wrote on `platform`, and the answers to them."""
        rows = await self._rows(
            "SELECT t.id FROM turns t JOIN lineages l ON l.id = t.lineage_id"
            " WHERE l.platform = ? AND t.role = 'user' AND t.author_id = ?",
            (platform, author_id),
        )
        user_turns = [int(r[0]) for r in rows]
        return user_turns + await self._answers_to(user_turns)

    async def turns_older_than(self, cutoff: float) -> list[int]:
        """Ids of turns created before `cutoff`."""
        rows = await self._rows("SELECT id FROM turns WHERE created_at < ?", (cutoff,))
        return [int(r[0]) for r in rows]

    async def _answers_to(self, user_turns: Sequence[int]) -> list[int]:
        answers: list[int] = []
        for chunk in _chunks(user_turns):
            marks = ",".join("?" * len(chunk))
            rows = await self._rows(
                f"SELECT id FROM turns WHERE role = 'model' AND parent_id IN ({marks})", chunk
            )
            answers += [int(r[0]) for r in rows]
        return answers

    async def delete_turns(self, turn_ids: Sequence[int]) -> int:
        """Delete turns with their parts and links; their images go once nothing uses them.

        Turns of others that continued from a deleted turn become roots: they keep working
        from their own parts, and never reach the deleted ones again.
        """
        if not turn_ids:
            return 0
        async with self.transaction() as db:
            await db.executemany(
                "UPDATE turns SET parent_id = NULL WHERE parent_id = ?", [(t,) for t in turn_ids]
            )
            await db.executemany("DELETE FROM turns WHERE id = ?", [(t,) for t in turn_ids])
            await db.execute(
                "DELETE FROM lineages WHERE id NOT IN (SELECT DISTINCT lineage_id FROM turns)"
            )
        await self.collect_images()
        return len(turn_ids)

    async def collect_images(self) -> int:
        """Delete image files no part refers to any more."""
        async with self.transaction() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT sha256 FROM images WHERE sha256 NOT IN"
                    " (SELECT image_sha256 FROM parts WHERE image_sha256 IS NOT NULL)"
                )
            )
            await db.executemany("DELETE FROM images WHERE sha256 = ?", [(r[0],) for r in rows])
        await self._images.remove(r[0] for r in rows)
        return len(rows)

    async def integrity_check(self) -> str:
        """SQLite's own consistency check ("ok" when healthy)."""
        rows = await self._rows("PRAGMA integrity_check")
        return str(rows[0][0])


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """Split ids so an IN (...) list stays under SQLite's variable limit."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _satisfies_the_port(store: SqliteStore) -> Store:
    """Never called: mypy proves here that `SqliteStore` is a `Store`."""
    return store

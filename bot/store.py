"""SQLite storage for lineages, turns, parts, links, chat settings and usage; images on disk.

One aiosqlite connection in autocommit mode. Tasks sharing a connection share its transaction, so
every write goes through `transaction()`, which holds a lock: one task's rollback can never
discard another task's insert. Image bytes never enter SQLite; they are content-addressed files
under `data_dir/images/`, written to a temp file and renamed, so a crash leaves no torn image.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus
from bot.request import ChatKey

DB_NAME = "bananabot.sqlite3"


_SCHEMA_1 = """
        CREATE TABLE lineages (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            lineage_id INTEGER NOT NULL REFERENCES lineages(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'model')),
            author_id TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT,
            error TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX turns_parent ON turns(parent_id);
        CREATE INDEX turns_status ON turns(status) WHERE status = 'pending';
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE parts (
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            text TEXT,
            image_sha256 TEXT REFERENCES images(sha256),
            thought INTEGER NOT NULL DEFAULT 0,
            raw TEXT,
            PRIMARY KEY (turn_id, idx)
        ) WITHOUT ROWID;
        CREATE INDEX parts_image ON parts(image_sha256) WHERE image_sha256 IS NOT NULL;
        CREATE TABLE links (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            PRIMARY KEY (platform, chat_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX links_turn ON links(turn_id);
        CREATE TABLE chats (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            latest_turn_id INTEGER REFERENCES turns(id) ON DELETE SET NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (platform, chat_id)
        ) WITHOUT ROWID;
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            turn_id INTEGER REFERENCES turns(id) ON DELETE SET NULL,
            images INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX usage_user ON usage(platform, user_id, created_at);
        CREATE INDEX usage_chat ON usage(platform, chat_id, created_at);
"""


async def _migration_1(db: aiosqlite.Connection, upgrading: bool) -> None:
    # Statement by statement: executescript() would COMMIT the migration's transaction early.
    for statement in _SCHEMA_1.split(";"):
        if statement.strip():
            await db.execute(statement)


async def _migration_2(db: aiosqlite.Connection, upgrading: bool) -> None:
    # Quotas pool usage per Discord guild (or per chat); interrupted turns are announced in
    # their author's language; retention and /forget look turns up by age and author.
    await db.execute("ALTER TABLE usage ADD COLUMN pool TEXT")
    await db.execute("UPDATE usage SET pool = chat_id")
    await db.execute("CREATE INDEX usage_pool ON usage(platform, pool, created_at)")
    await db.execute("ALTER TABLE turns ADD COLUMN locale TEXT")
    await db.execute("CREATE INDEX turns_author ON turns(author_id)")
    await db.execute("CREATE INDEX turns_created ON turns(created_at)")


# Buttons and links carry row ids (Telegram callback data, Discord custom ids), so an id must
# never name a second row. Until version 3 SQLite gave a new row max(id) + 1: once /forget or
# retention deleted the newest rows, their ids were handed out again, and nothing in the database
# remembers them. So an upgraded database starts each sequence this far past its highest id: the
# ids above it that old buttons can name are one run of deleted rows (the whole table's, when
# retention emptied it), and no bot deleted a billion. Ids are 64-bit, and "r:" with 19 digits
# still fits Telegram's 64-byte callback data.
ID_GAP = 1_000_000_000

# Version 3 as a table rebuild: (table, its new definition, its columns, its indexes). Each
# definition is the table exactly as versions 1 and 2 left it, plus AUTOINCREMENT.
_REBUILDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "lineages",
        """
        CREATE TABLE lineages_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "id, platform, chat_id, created_at",
        (),
    ),
    (
        "turns",
        """
        CREATE TABLE turns_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lineage_id INTEGER NOT NULL REFERENCES lineages(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'model')),
            author_id TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            locale TEXT
        )""",
        "id, lineage_id, parent_id, role, author_id, status, model, error, created_at, locale",
        (
            "CREATE INDEX turns_parent ON turns(parent_id)",
            "CREATE INDEX turns_status ON turns(status) WHERE status = 'pending'",
            "CREATE INDEX turns_author ON turns(author_id)",
            "CREATE INDEX turns_created ON turns(created_at)",
        ),
    ),
    (
        "usage",
        """
        CREATE TABLE usage_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            turn_id INTEGER REFERENCES turns(id) ON DELETE SET NULL,
            images INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL,
            pool TEXT
        )""",
        "id, platform, chat_id, user_id, turn_id, images, prompt_tokens, output_tokens,"
        " total_tokens, created_at, pool",
        (
            "CREATE INDEX usage_user ON usage(platform, user_id, created_at)",
            "CREATE INDEX usage_chat ON usage(platform, chat_id, created_at)",
            "CREATE INDEX usage_pool ON usage(platform, pool, created_at)",
        ),
    ),
)


async def _migration_3(db: aiosqlite.Connection, upgrading: bool) -> None:
    # Ids are never reused (see ID_GAP). SQLite cannot add AUTOINCREMENT to a column, so this is
    # its 12-step ALTER procedure (sqlite.org/lang_altertable.html#otheralter); `_migrate` has
    # turned foreign keys off, so dropping a table fires no ON DELETE action on the rows that
    # refer to it, and checks them before committing. The copy takes the old name; renaming the
    # old table away instead would re-point the other tables' REFERENCES at it.
    gap = ID_GAP if upgrading else 0
    for table, create, columns, indexes in _REBUILDS:
        await db.execute(create)
        await db.execute(f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}")
        await db.execute(f"DROP TABLE {table}")  # its indexes go with it
        await db.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        for index in indexes:
            await db.execute(index)
        # The copy recorded its highest id; what matters is every id issued before the upgrade.
        await db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        await db.execute(
            "INSERT INTO sqlite_sequence (name, seq)"
            f" SELECT ?, COALESCE(MAX(id), 0) + ? FROM {table}",
            (table, gap),
        )


# Each migration gets the connection and whether the database held data before this start-up
# (False while a new database is being created).
Migration = Callable[[aiosqlite.Connection, bool], Awaitable[None]]
MIGRATIONS: tuple[Migration, ...] = (_migration_1, _migration_2, _migration_3)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Tokens and images one model turn cost."""

    images: int
    prompt_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class PendingTurn:
    """A user turn whose step never finished, and where to tell its author."""

    turn_id: int
    chat: ChatKey
    author_id: str
    locale: str | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Sums over a period."""

    images: int
    total_tokens: int


def _store_file(folder: Path, data: bytes) -> str:
    """Hash `data` and write it once under `folder`; runs in a worker thread."""
    digest = hashlib.sha256(data).hexdigest()
    target = folder / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest


class Store:
    """The bot's persistent state. Open with `async with Store.open(data_dir) as store:`."""

    def __init__(self, db: aiosqlite.Connection, data_dir: Path) -> None:
        self._db = db
        self._images = data_dir / "images"
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, data_dir: Path) -> AsyncIterator[Store]:
        """Open (creating and migrating) the store in `data_dir`."""
        (data_dir / "images").mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(data_dir / DB_NAME, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            store = cls(db, data_dir)
            await store._migrate()
            yield store
        finally:
            await db.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version >= len(MIGRATIONS):
            return
        # Schema changes run with foreign keys off, as SQLite's ALTER procedure asks: dropping a
        # rebuilt table would otherwise cascade into every row that refers to it. The pragma is
        # a no-op inside a transaction, so it is switched around them; each migration commits
        # only when its references still hold.
        await self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                async with self.transaction() as db:
                    await migration(db, version > 0)
                    broken = list(await db.execute_fetchall("PRAGMA foreign_key_check"))
                    if broken:
                        table, _, parent, _ = broken[0]
                        raise sqlite3.IntegrityError(
                            f"migration {number} would leave {len(broken)} broken references,"
                            f" the first from {table} to {parent}"
                        )
                    await db.execute(f"PRAGMA user_version={number}")
        finally:
            await self._db.execute("PRAGMA foreign_keys=ON")

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

    # images -------------------------------------------------------------------------------

    async def put_image(self, data: bytes, mime_type: str) -> ImageRef:
        """Store image bytes once (content-addressed) and return their reference."""
        digest = await asyncio.to_thread(_store_file, self._images, data)
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO images (sha256, mime_type, size, created_at) "
                "VALUES (?, ?, ?, ?)",
                (digest, mime_type, len(data), time.time()),
            )
        return ImageRef(digest, mime_type, len(data))

    async def read_image(self, ref: ImageRef) -> bytes:
        """Read stored image bytes."""
        path = self._images / ref.sha256[:2] / ref.sha256
        return await asyncio.to_thread(path.read_bytes)

    def image_path(self, ref: ImageRef) -> Path:
        """Where the image file lives (for tools and the console adapter)."""
        return self._images / ref.sha256[:2] / ref.sha256

    # turns ----------------------------------------------------------------------------------

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
                lineage_id = _lastrowid(cur)
            else:
                lineage_id = await self._lineage_of(parent_id)
            turn_id = await self._insert_turn(
                lineage_id, parent_id, Role.USER, author_id, status, None, parts, now, locale
            )
            await self._insert_links(chat, message_ids, turn_id)
            await self._set_latest(chat, turn_id)
        return _make_turn(
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
            turn_id = await self._insert_turn(
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
        return _make_turn(
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

    async def _insert_turn(
        self,
        lineage_id: int,
        parent_id: int | None,
        role: Role,
        author_id: str,
        status: TurnStatus,
        model: str | None,
        parts: Sequence[Part],
        now: float,
        locale: str | None = None,
    ) -> int:
        cur = await self._db.execute(
            "INSERT INTO turns (lineage_id, parent_id, role, author_id, status, model,"
            " created_at, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (lineage_id, parent_id, role, author_id, status, model, now, locale),
        )
        turn_id = _lastrowid(cur)
        await self._db.executemany(
            "INSERT INTO parts (turn_id, idx, text, image_sha256, thought, raw)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (turn_id, i, p.text, p.image.sha256 if p.image else None, int(p.thought), p.raw)
                for i, p in enumerate(parts)
            ],
        )
        return turn_id

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
        turns = await self._load_turns(
            "SELECT id, lineage_id, parent_id, role, author_id, status, model, created_at"
            " FROM turns WHERE id = ?",
            (turn_id,),
        )
        return turns[0] if turns else None

    async def path(self, turn_id: int) -> list[Turn]:
        """The turns from the root of the lineage down to `turn_id`, root first."""
        turns = await self._load_turns(
            "WITH RECURSIVE up(id, depth) AS ("
            " SELECT ?, 0 UNION ALL"
            " SELECT t.parent_id, up.depth + 1 FROM turns t JOIN up ON t.id = up.id"
            " WHERE t.parent_id IS NOT NULL)"
            " SELECT t.id, t.lineage_id, t.parent_id, t.role, t.author_id, t.status, t.model,"
            " t.created_at FROM up JOIN turns t ON t.id = up.id ORDER BY up.depth DESC",
            (turn_id,),
        )
        return turns

    async def latest_answer(self, user_turn_id: int) -> Turn | None:
        """The newest model turn answering `user_turn_id`."""
        turns = await self._load_turns(
            "SELECT id, lineage_id, parent_id, role, author_id, status, model, created_at"
            " FROM turns WHERE parent_id = ? AND role = 'model' ORDER BY id DESC LIMIT 1",
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

    async def _load_turns(self, sql: str, params: Sequence[Any]) -> list[Turn]:
        rows = await self._rows(sql, params)
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        marks = ",".join("?" * len(ids))
        part_rows = await self._rows(
            "SELECT p.turn_id, p.text, p.image_sha256, i.mime_type, i.size, p.thought, p.raw"
            f" FROM parts p LEFT JOIN images i ON i.sha256 = p.image_sha256"
            f" WHERE p.turn_id IN ({marks}) ORDER BY p.turn_id, p.idx",
            ids,
        )
        parts: dict[int, list[Part]] = {i: [] for i in ids}
        for turn_id, text, sha, mime, size, thought, raw in part_rows:
            image = ImageRef(sha, mime, int(size)) if sha is not None else None
            parts[int(turn_id)].append(
                Part(text=text, image=image, thought=bool(thought), raw=raw)
            )
        return [
            Turn(
                id=int(r[0]),
                lineage_id=int(r[1]),
                parent_id=None if r[2] is None else int(r[2]),
                role=Role(r[3]),
                author_id=r[4],
                status=TurnStatus(r[5]),
                parts=tuple(parts[int(r[0])]),
                model=r[6],
                created_at=float(r[7]),
            )
            for r in rows
        ]

    # chat settings and usage ------------------------------------------------------------------

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

    # deletion (/forget, retention) ------------------------------------------------------------

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
        paths = [self._images / r[0][:2] / r[0] for r in rows]
        await asyncio.to_thread(_unlink_all, paths)
        return len(paths)

    async def integrity_check(self) -> str:
        """SQLite's own consistency check ("ok" when healthy)."""
        rows = await self._rows("PRAGMA integrity_check")
        return str(rows[0][0])


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """Split ids so an IN (...) list stays under SQLite's variable limit."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _unlink_all(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _lastrowid(cur: aiosqlite.Cursor) -> int:
    rowid = cur.lastrowid
    if rowid is None:  # pragma: no cover - sqlite always sets it after an INSERT
        raise RuntimeError("INSERT returned no rowid")
    return rowid


def _make_turn(
    turn_id: int,
    lineage_id: int,
    parent_id: int | None,
    role: Role,
    author_id: str,
    status: TurnStatus,
    parts: Sequence[Part],
    model: str | None,
    now: float,
) -> Turn:
    return Turn(
        id=turn_id,
        lineage_id=lineage_id,
        parent_id=parent_id,
        role=role,
        author_id=author_id,
        status=status,
        parts=tuple(parts),
        model=model,
        created_at=now,
    )

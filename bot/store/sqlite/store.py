"""The `Store` on one SQLite file: lineages, turns, links, chat settings and the usage ledger.

Each method is one function over the connection, run in one trip to its thread (`Database`):
writes as one transaction, reads with their follow-up queries. Image bytes live in files
beside the database (`images`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bot.coordination import Instance
from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus, UsageRecord
from bot.request import ChatKey
from bot.store import PendingTurn, Reference, Store, UsageTotals
from bot.store.rows import (
    PENDING_COLUMNS,
    TURN_COLUMNS,
    USAGE_COLUMNS,
    USAGE_RECORD_COLUMNS,
    answer_stored,
    pending_turns_from_rows,
    usage_of,
    usage_row,
    user_turn_stored,
)
from bot.store.sqlite import reference_rows
from bot.store.sqlite.connection import Database, lastrowid, rows
from bot.store.sqlite.coordination import SqliteCoordination
from bot.store.sqlite.images import ImageFiles
from bot.store.sqlite.schema import migrate
from bot.store.sqlite.turn_rows import insert_turn, load_turns

DB_NAME = "bananabot.sqlite3"
IMAGES_DIR = "images"

_PATH_SQL = (
    "WITH RECURSIVE up(id, depth) AS ("
    " SELECT ?, 0 UNION ALL"
    " SELECT t.parent_id, up.depth + 1 FROM turns t JOIN up ON t.id = up.id"
    " WHERE t.parent_id IS NOT NULL)"
    f" SELECT {TURN_COLUMNS} FROM up JOIN turns t ON t.id = up.id ORDER BY up.depth DESC"
)


class SqliteStore:
    """The bot's persistent state. Open with `async with SqliteStore.open(data_dir) as store:`."""

    def __init__(self, db: Database, data_dir: Path, instance: Instance | None = None) -> None:
        self._db = db
        self._coordination = SqliteCoordination(db, instance or Instance())
        self._images = ImageFiles(data_dir / IMAGES_DIR)
        # Images put and not yet referenced by a stored turn: collection leaves them alone.
        # Changed on the event loop only; a collection takes a copy when it is queued.
        self._pinned: Counter[str] = Counter()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, data_dir: Path, instance: Instance | None = None
    ) -> AsyncIterator[SqliteStore]:
        """Open (creating and migrating) the store in `data_dir`, for `instance` (this
        process, by default)."""
        ImageFiles(data_dir / IMAGES_DIR).create_folder()
        db = await Database.open(data_dir / DB_NAME)
        try:
            await db.run(migrate)
            store = cls(db, data_dir, instance)
            await store._coordination.start()
            yield store
        finally:
            await db.close()

    @property
    def coordination(self) -> SqliteCoordination:
        """What this process agrees with itself: it is the only one on the data_dir."""
        return self._coordination

    @property
    def database(self) -> Database:
        """The connection, for tools and tests that need SQL of their own."""
        return self._db

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._db.run(lambda db: rows(db, sql, tuple(params)))

    async def put_image(self, data: bytes, mime_type: str) -> ImageRef:
        """Store image bytes once (content-addressed) and return their reference.

        The image stays pinned until a turn that uses it is stored (`_unpin`).
        """
        digest = await self._images.write(data)
        self._pinned[digest] += 1
        try:
            now = time.time()

            def add_row(db: sqlite3.Connection) -> None:
                db.execute(
                    "INSERT OR IGNORE INTO images (sha256, mime_type, size, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (digest, mime_type, len(data), now),
                )
                # A collection queued before the pin may have removed the row and the file
                # after the file was written; collections run on this thread, in order, so
                # writing them again here closes the race.
                self._images.ensure(data, digest)

            await self._db.write(add_row)
        except BaseException:
            self._unpin([digest])
            raise
        return ImageRef(digest, mime_type, len(data))

    def _unpin(self, digests: Iterable[str]) -> None:
        self._pinned -= Counter(digests)  # keeps positive counts only

    async def read_image(self, ref: ImageRef) -> bytes:
        """Read stored image bytes."""
        return await self._images.read(ref.sha256)

    async def ping(self) -> None:
        """Run a trivial query on the connection's thread."""
        await self._rows("SELECT 1")

    async def count_images(self) -> int:
        """Count the images table's rows (each one file)."""
        ((count,),) = await self._rows("SELECT count(*) FROM images")
        return int(count)

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

        def add(db: sqlite3.Connection) -> tuple[int, int]:
            if parent_id is None:
                cur = db.execute(
                    "INSERT INTO lineages (platform, chat_id, created_at) VALUES (?, ?, ?)",
                    (chat.platform, chat.chat_id, now),
                )
                lineage_id = lastrowid(cur)
            else:
                lineage_id = _lineage_of(db, parent_id)
            turn_id = insert_turn(
                db,
                lineage_id,
                parent_id,
                Role.USER,
                author_id,
                status,
                None,
                parts,
                now,
                locale,
                self._coordination.instance.run,
            )
            _insert_links(db, chat, message_ids, turn_id)
            _set_latest(db, chat, turn_id)
            return turn_id, lineage_id

        turn_id, lineage_id = await self._db.write(add)
        self._unpin(_images_of(parts))
        return user_turn_stored(turn_id, lineage_id, parent_id, author_id, status, parts, now)

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

        def add(db: sqlite3.Connection) -> int:
            turn_id = insert_turn(
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
            db.execute(
                "UPDATE turns SET status = ?, error = NULL WHERE id = ?",
                (TurnStatus.ANSWERED, user_turn.id),
            )
            _set_latest(db, chat, turn_id)
            row = usage_row(chat, author_id, turn_id, usage, now)
            marks = ", ".join("?" * len(row))
            db.execute(f"INSERT INTO usage ({USAGE_COLUMNS}) VALUES ({marks})", row)
            return turn_id

        turn_id = await self._db.write(add)
        self._unpin(_images_of(parts))
        return answer_stored(turn_id, user_turn, model, parts, now)

    async def set_status(self, turn_id: int, status: TurnStatus, error: str | None = None) -> None:
        """Mark a user turn failed, pending again, or draft."""
        await self._db.write(
            lambda db: db.execute(
                "UPDATE turns SET status = ?, error = ? WHERE id = ?", (status, error, turn_id)
            )
        )

    async def link(self, chat: ChatKey, message_ids: Iterable[str], turn_id: int) -> None:
        """Link posted messages to the turn they show."""
        ids = list(message_ids)
        if ids:
            await self._db.write(lambda db: _insert_links(db, chat, ids, turn_id))

    async def resolve_link(self, chat: ChatKey, message_id: str) -> Turn | None:
        """The turn a message in `chat` shows, if any."""

        def resolve(db: sqlite3.Connection) -> Turn | None:
            found = rows(
                db,
                "SELECT turn_id FROM links WHERE platform = ? AND chat_id = ? AND message_id = ?",
                (chat.platform, chat.chat_id, message_id),
            )
            return _turn(db, int(found[0][0])) if found else None

        return await self._db.run(resolve)

    async def links_of(self, turn_id: int) -> list[tuple[str, str, str]]:
        """(platform, chat id, message id) of every message linked to a turn."""
        found = await self._rows(
            "SELECT platform, chat_id, message_id FROM links WHERE turn_id = ?", (turn_id,)
        )
        return [(r[0], r[1], r[2]) for r in found]

    async def message_ids(self, chat: ChatKey, prefix: str = "") -> list[str]:
        """Linked message ids in `chat` that start with `prefix`."""
        found = await self._rows(
            "SELECT message_id FROM links WHERE platform = ? AND chat_id = ?"
            " AND substr(message_id, 1, ?) = ?",
            (chat.platform, chat.chat_id, len(prefix), prefix),
        )
        return [r[0] for r in found]

    async def get_turn(self, turn_id: int) -> Turn | None:
        """Load one turn with its parts."""
        return await self._db.run(lambda db: _turn(db, turn_id))

    async def path(self, turn_id: int) -> list[Turn]:
        """The turns from the root of the lineage down to `turn_id`, root first."""
        return await self._db.run(lambda db: load_turns(db, _PATH_SQL, (turn_id,)))

    async def latest_answer(self, user_turn_id: int) -> Turn | None:
        """The newest model turn answering `user_turn_id`."""

        def latest(db: sqlite3.Connection) -> Turn | None:
            turns = load_turns(
                db,
                f"SELECT {TURN_COLUMNS} FROM turns t"
                " WHERE t.parent_id = ? AND t.role = 'model' ORDER BY t.id DESC LIMIT 1",
                (user_turn_id,),
            )
            return turns[0] if turns else None

        return await self._db.run(latest)

    async def chat_latest(self, chat: ChatKey) -> Turn | None:
        """The chat's most recent turn (a result, or a user turn still waiting)."""

        def latest(db: sqlite3.Connection) -> Turn | None:
            found = rows(
                db,
                "SELECT latest_turn_id FROM chats WHERE platform = ? AND chat_id = ?",
                (chat.platform, chat.chat_id),
            )
            if not found or found[0][0] is None:
                return None
            return _turn(db, int(found[0][0]))

        return await self._db.run(latest)

    async def clear_latest(self, chat: ChatKey) -> None:
        """Forget the chat's latest turn (/new): the next message starts a lineage."""
        await self._db.write(
            lambda db: db.execute(
                "UPDATE chats SET latest_turn_id = NULL WHERE platform = ? AND chat_id = ?",
                (chat.platform, chat.chat_id),
            )
        )

    async def lineage_chat(self, turn_id: int) -> tuple[str, str] | None:
        """(platform, chat id) where the turn's lineage started."""
        found = await self._rows(
            "SELECT l.platform, l.chat_id FROM turns t JOIN lineages l ON l.id = t.lineage_id"
            " WHERE t.id = ?",
            (turn_id,),
        )
        return (found[0][0], found[0][1]) if found else None

    async def pending_turns(self, platform: str) -> list[PendingTurn]:
        """User turns stored but never answered on `platform` (the process died mid-call)."""
        found = await self._rows(
            f"SELECT {PENDING_COLUMNS} FROM turns t JOIN lineages l ON l.id = t.lineage_id"
            " WHERE t.status = 'pending' AND l.platform = ?",
            (platform,),
        )
        return pending_turns_from_rows(platform, found)

    async def chat_settings(self, chat: ChatKey) -> dict[str, str]:
        """Per-chat choices (aspect ratio, size, model, language)."""
        found = await self._rows(
            "SELECT settings FROM chats WHERE platform = ? AND chat_id = ?",
            (chat.platform, chat.chat_id),
        )
        return dict(json.loads(found[0][0])) if found else {}

    async def update_chat_settings(self, chat: ChatKey, changes: dict[str, str | None]) -> None:
        """Set (or, with None, clear) per-chat settings."""

        def update(db: sqlite3.Connection) -> None:
            found = rows(
                db,
                "SELECT settings FROM chats WHERE platform = ? AND chat_id = ?",
                (chat.platform, chat.chat_id),
            )
            current: dict[str, str] = dict(json.loads(found[0][0])) if found else {}
            for key, value in changes.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            db.execute(
                "INSERT INTO chats (platform, chat_id, settings) VALUES (?, ?, ?)"
                " ON CONFLICT (platform, chat_id) DO UPDATE SET settings = excluded.settings",
                (chat.platform, chat.chat_id, json.dumps(current, sort_keys=True)),
            )

        await self._db.write(update)

    async def usage_since(self, platform: str, user_id: str, since: float) -> UsageTotals:
        """A user's images and tokens since a time."""
        found = await self._rows(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(total_tokens), 0),"
            " COALESCE(SUM(cost_usd), 0) FROM usage"
            " WHERE platform = ? AND user_id = ? AND created_at >= ?",
            (platform, user_id, since),
        )
        return UsageTotals(int(found[0][0]), int(found[0][1]), float(found[0][2]))

    async def turn_usage(self, turn_id: int) -> UsageRecord | None:
        """The usage row of a model turn."""
        found = await self._rows(
            f"SELECT {USAGE_RECORD_COLUMNS} FROM usage WHERE turn_id = ?", (turn_id,)
        )
        return usage_of(found[0] if found else None)

    async def pool_usage_since(self, platform: str, pool: str, since: float) -> UsageTotals:
        """A chat's (or guild's) images and tokens since a time."""
        found = await self._rows(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(total_tokens), 0),"
            " COALESCE(SUM(cost_usd), 0) FROM usage"
            " WHERE platform = ? AND pool = ? AND created_at >= ?",
            (platform, pool, since),
        )
        return UsageTotals(int(found[0][0]), int(found[0][1]), float(found[0][2]))

    async def turns_by_author(self, platform: str, author_id: str) -> list[int]:
        """Ids of the user turns `author_id` wrote on `platform`, and the answers to them."""

        def by_author(db: sqlite3.Connection) -> list[int]:
            found = rows(
                db,
                "SELECT t.id FROM turns t JOIN lineages l ON l.id = t.lineage_id"
                " WHERE l.platform = ? AND t.role = 'user' AND t.author_id = ?",
                (platform, author_id),
            )
            user_turns = [int(r[0]) for r in found]
            return user_turns + _answers_to(db, user_turns)

        return await self._db.run(by_author)

    async def turns_older_than(self, cutoff: float) -> list[int]:
        """Ids of turns created before `cutoff`."""
        found = await self._rows("SELECT id FROM turns WHERE created_at < ?", (cutoff,))
        return [int(r[0]) for r in found]

    async def delete_turns(self, turn_ids: Sequence[int]) -> int:
        """Delete turns with their parts and links; their images go once nothing uses them.

        Turns of others that continued from a deleted turn become roots: they keep working
        from their own parts, and never reach the deleted ones again.
        """
        if not turn_ids:
            return 0

        def delete(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE turns SET parent_id = NULL WHERE parent_id = ?", [(t,) for t in turn_ids]
            )
            db.executemany("DELETE FROM turns WHERE id = ?", [(t,) for t in turn_ids])
            db.execute(
                "DELETE FROM lineages WHERE id NOT IN (SELECT DISTINCT lineage_id FROM turns)"
            )

        await self._db.write(delete)
        await self.collect_images()
        return len(turn_ids)

    async def save_reference(self, reference: Reference) -> None:
        """Keep a reference, replacing the one with its key in its scope."""
        await self._db.write(partial(reference_rows.save, reference=reference))
        self._unpin(image.sha256 for image in reference.images)
        await self.collect_images()  # the images of the one it replaced, if now unused

    async def references(self, platform: str, scopes: Sequence[str]) -> list[Reference]:
        """The references in `scopes`, scope by scope in the order given, each by key."""
        if not scopes:
            return []
        marks = ",".join("?" * len(scopes))
        found = await self._db.run(
            partial(
                reference_rows.load,
                where=f"r.platform = ? AND r.scope IN ({marks})",
                params=(platform, *scopes),
            )
        )
        order = {scope: n for n, scope in enumerate(scopes)}
        return sorted(found, key=lambda r: order[r.scope])  # stable: keys stay sorted

    async def references_by_owner(self, platform: str, owner_id: str) -> list[Reference]:
        """Every reference `owner_id` saved on `platform`."""
        return await self._db.run(
            partial(
                reference_rows.load,
                where="r.platform = ? AND r.owner_id = ?",
                params=(platform, owner_id),
            )
        )

    async def delete_reference(self, platform: str, scope: str, key: str) -> bool:
        """Delete a reference; its images go once nothing uses them."""
        deleted = await self._db.write(
            partial(reference_rows.delete, platform=platform, scope=scope, key=key)
        )
        if deleted:
            await self.collect_images()
        return deleted

    async def collect_images(self) -> int:
        """Delete image files no part or reference refers to any more."""

        pinned = frozenset(self._pinned)

        def collect(db: sqlite3.Connection) -> list[str]:
            unused = [
                str(r[0])
                for r in rows(
                    db,
                    "SELECT sha256 FROM images WHERE sha256 NOT IN"
                    " (SELECT image_sha256 FROM parts WHERE image_sha256 IS NOT NULL"
                    " UNION SELECT image_sha256 FROM ref_images)",
                )
                if r[0] not in pinned
            ]
            db.executemany("DELETE FROM images WHERE sha256 = ?", [(d,) for d in unused])
            # On this thread, so no `put_image` of the same bytes can slip in between.
            self._images.remove_now(unused)
            return unused

        return len(await self._db.write(collect))

    async def integrity_check(self) -> str:
        """SQLite's own consistency check ("ok" when healthy)."""
        found = await self._rows("PRAGMA integrity_check")
        return str(found[0][0])


def _images_of(parts: Sequence[Part]) -> list[str]:
    return [p.image.sha256 for p in parts if p.image is not None]


def _turn(db: sqlite3.Connection, turn_id: int) -> Turn | None:
    turns = load_turns(db, f"SELECT {TURN_COLUMNS} FROM turns t WHERE t.id = ?", (turn_id,))
    return turns[0] if turns else None


def _lineage_of(db: sqlite3.Connection, turn_id: int) -> int:
    found = rows(db, "SELECT lineage_id FROM turns WHERE id = ?", (turn_id,))
    if not found:
        raise LookupError(f"turn {turn_id} does not exist")
    return int(found[0][0])


def _insert_links(
    db: sqlite3.Connection, chat: ChatKey, message_ids: Iterable[str], turn_id: int
) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO links (platform, chat_id, message_id, turn_id)"
        " VALUES (?, ?, ?, ?)",
        [(chat.platform, chat.chat_id, m, turn_id) for m in message_ids],
    )


def _set_latest(db: sqlite3.Connection, chat: ChatKey, turn_id: int) -> None:
    db.execute(
        "INSERT INTO chats (platform, chat_id, latest_turn_id) VALUES (?, ?, ?)"
        " ON CONFLICT (platform, chat_id)"
        " DO UPDATE SET latest_turn_id = excluded.latest_turn_id",
        (chat.platform, chat.chat_id, turn_id),
    )


def _answers_to(db: sqlite3.Connection, user_turns: Sequence[int]) -> list[int]:
    answers: list[int] = []
    for chunk in _chunks(user_turns):
        marks = ",".join("?" * len(chunk))
        found = rows(
            db,
            f"SELECT id FROM turns WHERE role = 'model' AND parent_id IN ({marks})",
            tuple(chunk),
        )
        answers += [int(r[0]) for r in found]
    return answers


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """Split ids so an IN (...) list stays under SQLite's variable limit."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _satisfies_the_port(store: SqliteStore) -> Store:
    """Never called: mypy proves here that `SqliteStore` is a `Store`."""
    return store

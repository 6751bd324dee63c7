"""The `Store` on PostgreSQL (asyncpg): the same contract as SQLite, images in the database.

Each write is one transaction. Images are content-addressed rows with their bytes in 1 MiB
chunks. Several instances may share the database: an image put and not yet in a turn is held
by a row in `image_holds` (per run, counting its steps that hold it, released in the
transaction that stores the turn), and image writes take a shared advisory lock that a
collection takes exclusively, so no instance collects an image another is about to use.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bot.coordination import Instance
from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus, UsageRecord
from bot.request import ChatKey
from bot.store import PendingTurn, Reference, Store, UsageTotals
from bot.store.postgres.coordination import NOW, PostgresCoordination
from bot.store.postgres.schema import MIGRATIONS
from bot.store.rows import (
    PART_COLUMNS,
    PENDING_COLUMNS,
    REFERENCE_COLUMNS,
    REFERENCE_IMAGE_COLUMNS,
    TURN_COLUMNS,
    USAGE_COLUMNS,
    USAGE_RECORD_COLUMNS,
    answer_stored,
    part_rows,
    pending_turns_from_rows,
    reference_row,
    references_from_rows,
    turns_from_rows,
    usage_of,
    usage_row,
    user_turn_stored,
)

CHUNK = 1 << 20
IMAGE_WRITES = 4242002  # the advisory lock image writes share and a collection takes alone
IMAGE_HOLD_S = 3600.0  # a put image's hold outlives its step by far; then it lapses
Connection = Any  # asyncpg.Connection or a pool's proxy: asyncpg ships no type hints


class PostgresStore:
    """The bot's state in one PostgreSQL database. Open with `PostgresStore.open(url)`."""

    def __init__(self, pool: Any, url: str, instance: Instance | None = None) -> None:
        self._pool = pool
        self._coordination = PostgresCoordination(pool, url, instance or Instance())

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, pool_size: int = 10, instance: Instance | None = None
    ) -> AsyncIterator[PostgresStore]:
        """Connect (creating and migrating the schema) and close the pool afterwards."""
        pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size)
        try:
            async with pool.acquire() as conn:
                await _migrate(conn)
            yield cls(pool, url, instance)
        finally:
            await pool.close()

    @property
    def coordination(self) -> PostgresCoordination:
        return self._coordination

    # images ---------------------------------------------------------------------------------

    async def put_image(self, data: bytes, mime_type: str) -> ImageRef:
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", IMAGE_WRITES)
            # One more step of this run holds the image until its turn is stored.
            await conn.execute(
                "INSERT INTO image_holds (sha256, run, until, holds)"
                f" VALUES ($1, $2, {NOW} + $3, 1) ON CONFLICT (sha256, run)"
                " DO UPDATE SET until = excluded.until, holds = image_holds.holds + 1",
                digest,
                self._coordination.instance.run,
                IMAGE_HOLD_S,
            )
            await conn.execute(
                "INSERT INTO images (sha256, mime_type, size, created_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                digest,
                mime_type,
                len(data),
                time.time(),
            )
            await conn.executemany(
                "INSERT INTO image_chunks (sha256, idx, data) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [
                    (digest, n, data[start : start + CHUNK])
                    for n, start in enumerate(range(0, len(data), CHUNK))
                ],
            )
        return ImageRef(digest, mime_type, len(data))

    async def _release_holds(self, conn: Connection, digests: Sequence[str]) -> None:
        """In the caller's transaction (which stores what uses `digests`): one hold of this run
        less per use, the row gone with the last one."""
        if digests:
            await conn.execute(
                "WITH used AS (SELECT d, count(*) AS n FROM unnest($2::text[]) d GROUP BY d),"
                " released AS (DELETE FROM image_holds h USING used"
                "  WHERE h.run = $1 AND h.sha256 = used.d AND h.holds <= used.n)"
                " UPDATE image_holds h SET holds = h.holds - used.n FROM used"
                " WHERE h.run = $1 AND h.sha256 = used.d AND h.holds > used.n",
                self._coordination.instance.run,
                list(digests),
            )

    async def read_image(self, ref: ImageRef) -> bytes:
        async with self._pool.acquire() as conn:
            # One trip: the image's row (none: not kept) with its chunks, if it has any.
            found = await conn.fetch(
                "SELECT c.data FROM images i LEFT JOIN image_chunks c ON c.sha256 = i.sha256"
                " WHERE i.sha256 = $1 ORDER BY c.idx",
                ref.sha256,
            )
        if not found:
            raise FileNotFoundError(ref.sha256)
        return b"".join(bytes(r["data"]) for r in found if r["data"] is not None)

    async def ping(self) -> None:
        """Run a trivial query on a pooled connection (the pool reconnects broken ones)."""
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def count_images(self) -> int:
        """Count the images table's rows."""
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM images"))

    async def collect_images(self) -> int:
        """Delete images no part or reference uses and no step of any instance holds."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Waits for image writes under way, so their holds are committed and seen.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", IMAGE_WRITES)
            await conn.execute(f"DELETE FROM image_holds WHERE until < {NOW}")
            deleted = await conn.fetch(
                "DELETE FROM images WHERE sha256 NOT IN"
                " (SELECT image_sha256 FROM parts WHERE image_sha256 IS NOT NULL"
                " UNION SELECT image_sha256 FROM ref_images UNION SELECT sha256 FROM image_holds)"
                " RETURNING sha256"
            )
        return len(deleted)

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
        now = time.time()
        async with self._pool.acquire() as conn, conn.transaction():
            if parent_id is None:
                lineage_id = await conn.fetchval(
                    "INSERT INTO lineages (platform, chat_id, created_at) VALUES ($1, $2, $3)"
                    " RETURNING id",
                    chat.platform,
                    chat.chat_id,
                    now,
                )
            else:
                lineage_id = await conn.fetchval(
                    "SELECT lineage_id FROM turns WHERE id = $1", parent_id
                )
                if lineage_id is None:
                    raise LookupError(f"turn {parent_id} does not exist")
            turn_id = await _insert_turn(
                conn,
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
            await _insert_links(conn, chat, message_ids, turn_id)
            await _set_latest(conn, chat, turn_id)
            await self._release_holds(conn, _images_of(parts))
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
        now = time.time()
        async with self._pool.acquire() as conn, conn.transaction():
            turn_id = await _insert_turn(
                conn,
                user_turn.lineage_id,
                user_turn.id,
                Role.MODEL,
                "model",
                TurnStatus.OK,
                model,
                parts,
                now,
                None,
            )
            await conn.execute(
                "UPDATE turns SET status = $1, error = NULL WHERE id = $2",
                TurnStatus.ANSWERED.value,
                user_turn.id,
            )
            await _set_latest(conn, chat, turn_id)
            row = usage_row(chat, author_id, turn_id, usage, now)
            marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
            await conn.execute(f"INSERT INTO usage ({USAGE_COLUMNS}) VALUES ({marks})", *row)
            await self._release_holds(conn, _images_of(parts))
        return answer_stored(turn_id, user_turn, model, parts, now)

    async def _one_turn(self, sql: str, *params: Any) -> Turn | None:
        """The turn `sql` (selecting `TURN_COLUMNS`) finds, or None."""
        async with self._pool.acquire() as conn:
            turns = await _load_turns(conn, sql, *params)
        return turns[0] if turns else None

    async def set_status(self, turn_id: int, status: TurnStatus, error: str | None = None) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE turns SET status = $1, error = $2 WHERE id = $3",
                status.value,
                error,
                turn_id,
            )

    async def get_turn(self, turn_id: int) -> Turn | None:
        return await self._one_turn(f"SELECT {TURN_COLUMNS} FROM turns t WHERE t.id = $1", turn_id)

    async def path(self, turn_id: int) -> list[Turn]:
        async with self._pool.acquire() as conn:
            return await _load_turns(
                conn,
                "WITH RECURSIVE up(id, depth) AS ("
                " SELECT $1::bigint, 0 UNION ALL"
                " SELECT t.parent_id, up.depth + 1 FROM turns t JOIN up ON t.id = up.id"
                " WHERE t.parent_id IS NOT NULL)"
                f" SELECT {TURN_COLUMNS} FROM up JOIN turns t ON t.id = up.id"
                " ORDER BY up.depth DESC",
                turn_id,
            )

    async def latest_answer(self, user_turn_id: int) -> Turn | None:
        return await self._one_turn(
            f"SELECT {TURN_COLUMNS} FROM turns t WHERE t.parent_id = $1"
            " AND t.role = 'model' ORDER BY t.id DESC LIMIT 1",
            user_turn_id,
        )

    async def lineage_chat(self, turn_id: int) -> tuple[str, str] | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT l.platform, l.chat_id FROM turns t JOIN lineages l"
                " ON l.id = t.lineage_id WHERE t.id = $1",
                turn_id,
            )
        return (row["platform"], row["chat_id"]) if row else None

    # links and chats ------------------------------------------------------------------------

    async def link(self, chat: ChatKey, message_ids: Iterable[str], turn_id: int) -> None:
        ids = list(message_ids)
        if ids:
            async with self._pool.acquire() as conn, conn.transaction():
                await _insert_links(conn, chat, ids, turn_id)

    async def resolve_link(self, chat: ChatKey, message_id: str) -> Turn | None:
        return await self._one_turn(
            f"SELECT {TURN_COLUMNS} FROM links k JOIN turns t ON t.id = k.turn_id"
            " WHERE k.platform = $1 AND k.chat_id = $2 AND k.message_id = $3",
            chat.platform,
            chat.chat_id,
            message_id,
        )

    async def message_ids(self, chat: ChatKey, prefix: str = "") -> list[str]:
        async with self._pool.acquire() as conn:
            found = await conn.fetch(
                "SELECT message_id FROM links WHERE platform = $1 AND chat_id = $2"
                " AND left(message_id, $3) = $4",
                chat.platform,
                chat.chat_id,
                len(prefix),
                prefix,
            )
        return [r["message_id"] for r in found]

    async def chat_latest(self, chat: ChatKey) -> Turn | None:
        return await self._one_turn(
            f"SELECT {TURN_COLUMNS} FROM chats c JOIN turns t ON t.id = c.latest_turn_id"
            " WHERE c.platform = $1 AND c.chat_id = $2",
            chat.platform,
            chat.chat_id,
        )

    async def clear_latest(self, chat: ChatKey) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE chats SET latest_turn_id = NULL WHERE platform = $1 AND chat_id = $2",
                chat.platform,
                chat.chat_id,
            )

    async def pending_turns(self, platform: str) -> list[PendingTurn]:
        async with self._pool.acquire() as conn:
            found = await conn.fetch(
                f"SELECT {PENDING_COLUMNS} FROM turns t JOIN lineages l ON l.id = t.lineage_id"
                " WHERE t.status = 'pending' AND l.platform = $1",
                platform,
            )
        return pending_turns_from_rows(platform, found)

    async def chat_settings(self, chat: ChatKey) -> dict[str, str]:
        async with self._pool.acquire() as conn:
            found = await conn.fetchval(
                "SELECT settings FROM chats WHERE platform = $1 AND chat_id = $2",
                chat.platform,
                chat.chat_id,
            )
        return dict(json.loads(found)) if found else {}

    async def update_chat_settings(self, chat: ChatKey, changes: dict[str, str | None]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            # The row lock makes read-merge-write one step under concurrent changes.
            await conn.execute(
                "INSERT INTO chats (platform, chat_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                chat.platform,
                chat.chat_id,
            )
            found = await conn.fetchval(
                "SELECT settings FROM chats WHERE platform = $1 AND chat_id = $2 FOR UPDATE",
                chat.platform,
                chat.chat_id,
            )
            current: dict[str, str] = dict(json.loads(found)) if found else {}
            for key, value in changes.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            await conn.execute(
                "UPDATE chats SET settings = $3 WHERE platform = $1 AND chat_id = $2",
                chat.platform,
                chat.chat_id,
                json.dumps(current, sort_keys=True),
            )

    # usage ----------------------------------------------------------------------------------

    async def usage_since(self, platform: str, user_id: str, since: float) -> UsageTotals:
        return await self._totals("user_id", platform, user_id, since)

    async def pool_usage_since(self, platform: str, pool: str, since: float) -> UsageTotals:
        return await self._totals("pool", platform, pool, since)

    async def _totals(self, column: str, platform: str, who: str, since: float) -> UsageTotals:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT COALESCE(SUM(images), 0) AS images,"
                " COALESCE(SUM(total_tokens), 0) AS tokens, COALESCE(SUM(cost_usd), 0) AS cost"
                f" FROM usage WHERE platform = $1 AND {column} = $2 AND created_at >= $3",
                platform,
                who,
                since,
            )
        return UsageTotals(int(row["images"]), int(row["tokens"]), float(row["cost"]))

    async def turn_usage(self, turn_id: int) -> UsageRecord | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {USAGE_RECORD_COLUMNS} FROM usage WHERE turn_id = $1", turn_id
            )
        return usage_of(row)

    # deletion -------------------------------------------------------------------------------

    async def turns_by_author(self, platform: str, author_id: str) -> list[int]:
        async with self._pool.acquire() as conn:
            users = await conn.fetch(
                "SELECT t.id FROM turns t JOIN lineages l ON l.id = t.lineage_id"
                " WHERE l.platform = $1 AND t.role = 'user' AND t.author_id = $2",
                platform,
                author_id,
            )
            ids = [int(r["id"]) for r in users]
            answers = await conn.fetch(
                "SELECT id FROM turns WHERE role = 'model' AND parent_id = ANY($1::bigint[])",
                ids,
            )
        return ids + [int(r["id"]) for r in answers]

    async def turns_older_than(self, cutoff: float) -> list[int]:
        async with self._pool.acquire() as conn:
            found = await conn.fetch("SELECT id FROM turns WHERE created_at < $1", cutoff)
        return [int(r["id"]) for r in found]

    async def delete_turns(self, turn_ids: Sequence[int]) -> int:
        if not turn_ids:
            return 0
        ids = list(turn_ids)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE turns SET parent_id = NULL WHERE parent_id = ANY($1::bigint[])"
                " AND NOT (id = ANY($1::bigint[]))",
                ids,
            )
            await conn.execute("DELETE FROM turns WHERE id = ANY($1::bigint[])", ids)
            await conn.execute(
                "DELETE FROM lineages l WHERE NOT EXISTS"
                " (SELECT 1 FROM turns t WHERE t.lineage_id = l.id)"
            )
        await self.collect_images()
        return len(turn_ids)

    # references -----------------------------------------------------------------------------

    async def save_reference(self, reference: Reference) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM refs WHERE platform = $1 AND scope = $2 AND key = $3",
                reference.platform,
                reference.scope,
                reference.key,
            )
            ref_id = await conn.fetchval(
                "INSERT INTO refs (platform, scope, key, name, owner_id, prompt, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                *reference_row(reference),
            )
            await conn.executemany(
                "INSERT INTO ref_images (ref_id, idx, image_sha256) VALUES ($1, $2, $3)",
                [(ref_id, n, image.sha256) for n, image in enumerate(reference.images)],
            )
            await self._release_holds(conn, [image.sha256 for image in reference.images])
        await self.collect_images()

    async def references(self, platform: str, scopes: Sequence[str]) -> list[Reference]:
        if not scopes:
            return []
        found = await self._load_references(
            "r.platform = $1 AND r.scope = ANY($2::text[])", platform, list(scopes)
        )
        order = {scope: n for n, scope in enumerate(scopes)}
        return sorted(found, key=lambda r: order[r.scope])

    async def references_by_owner(self, platform: str, owner_id: str) -> list[Reference]:
        return await self._load_references(
            "r.platform = $1 AND r.owner_id = $2", platform, owner_id
        )

    async def delete_reference(self, platform: str, scope: str, key: str) -> bool:
        async with self._pool.acquire() as conn:
            deleted = await conn.fetchval(
                "DELETE FROM refs WHERE platform = $1 AND scope = $2 AND key = $3 RETURNING id",
                platform,
                scope,
                key,
            )
        if deleted is not None:
            await self.collect_images()
        return deleted is not None

    async def _load_references(self, where: str, *params: Any) -> list[Reference]:
        async with self._pool.acquire() as conn:
            found = await conn.fetch(
                f"SELECT {REFERENCE_COLUMNS} FROM refs r WHERE {where} ORDER BY r.scope, r.key",
                *params,
            )
            images = await conn.fetch(
                f"SELECT {REFERENCE_IMAGE_COLUMNS} FROM ref_images x"
                " JOIN images i ON i.sha256 = x.image_sha256"
                " WHERE x.ref_id = ANY($1::bigint[]) ORDER BY x.ref_id, x.idx",
                [int(r[0]) for r in found],
            )
        return references_from_rows(found, images)


async def _migrate(conn: Connection) -> None:
    """Apply the migrations this database has not seen, each in its own transaction, under an
    advisory lock (several instances may start at once)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(4242001)")
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)


async def _insert_turn(
    conn: Connection,
    lineage_id: int,
    parent_id: int | None,
    role: Role,
    author_id: str,
    status: TurnStatus,
    model: str | None,
    parts: Sequence[Part],
    now: float,
    locale: str | None,
    run: str | None = None,
) -> int:
    turn_id: int = await conn.fetchval(
        "INSERT INTO turns (lineage_id, parent_id, role, author_id, status, model, created_at,"
        " locale, run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        lineage_id,
        parent_id,
        role.value,
        author_id,
        status.value,
        model,
        now,
        locale,
        run,
    )
    await conn.executemany(
        "INSERT INTO parts (turn_id, idx, text, image_sha256, thought, raw)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        part_rows(turn_id, parts),
    )
    return turn_id


async def _load_turns(conn: Connection, sql: str, *params: Any) -> list[Turn]:
    rows = await conn.fetch(sql, *params)
    if not rows:
        return []
    found = await conn.fetch(
        f"SELECT {PART_COLUMNS} FROM parts p LEFT JOIN images i ON i.sha256 = p.image_sha256"
        " WHERE p.turn_id = ANY($1::bigint[]) ORDER BY p.turn_id, p.idx",
        [int(r[0]) for r in rows],
    )
    return turns_from_rows(rows, found)


async def _insert_links(
    conn: Connection, chat: ChatKey, message_ids: Iterable[str], turn_id: int
) -> None:
    await conn.executemany(
        "INSERT INTO links (platform, chat_id, message_id, turn_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (platform, chat_id, message_id) DO UPDATE SET turn_id = excluded.turn_id",
        [(chat.platform, chat.chat_id, m, turn_id) for m in message_ids],
    )


async def _set_latest(conn: Connection, chat: ChatKey, turn_id: int) -> None:
    await conn.execute(
        "INSERT INTO chats (platform, chat_id, latest_turn_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (platform, chat_id) DO UPDATE SET latest_turn_id = excluded.latest_turn_id",
        chat.platform,
        chat.chat_id,
        turn_id,
    )


def _images_of(parts: Sequence[Part]) -> list[str]:
    return [p.image.sha256 for p in parts if p.image is not None]


def _satisfies_the_port(store: PostgresStore) -> Store:
    """Never called: mypy proves here that `PostgresStore` is a `Store`."""
    return store

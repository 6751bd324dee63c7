"""`bananabot migrate --to postgresql://...`: copy a SQLite data_dir into PostgreSQL.

Rows keep their ids: buttons and message links carry them. Every insert is ON CONFLICT DO
NOTHING, so a run that was interrupted is simply run again and copies what is missing. The
sequences are moved past the copied ids, and the row counts are compared at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.postgres import PostgresStore
from bot.store.postgres.store import CHUNK
from bot.store.sqlite import DB_NAME
from bot.store.sqlite.images import ImageFiles
from bot.store.sqlite.store import IMAGES_DIR

BATCH = 500
# (table, columns as SQLite selects them, the PostgreSQL columns they fill), parents first.
TABLES: tuple[tuple[str, str, str], ...] = (
    ("lineages", "id, platform, chat_id, created_at", "id, platform, chat_id, created_at"),
    (
        "turns",
        "id, lineage_id, parent_id, role, author_id, status, model, error, created_at, locale",
        "id, lineage_id, parent_id, role, author_id, status, model, error, created_at, locale",
    ),
    ("images", "sha256, mime_type, size, created_at", "sha256, mime_type, size, created_at"),
    (
        "parts",
        "turn_id, idx, text, image_sha256, thought, raw",
        "turn_id, idx, text, image_sha256, thought, raw",
    ),
    ("links", "platform, chat_id, message_id, turn_id", "platform, chat_id, message_id, turn_id"),
    (
        "chats",
        "platform, chat_id, latest_turn_id, settings",
        "platform, chat_id, latest_turn_id, settings",
    ),
    (
        "usage",
        "id, platform, chat_id, COALESCE(pool, chat_id), user_id, turn_id, images,"
        " prompt_tokens, output_tokens, total_tokens, seconds, cost_usd, image_size,"
        " aspect_ratio, created_at",
        "id, platform, chat_id, pool, user_id, turn_id, images, prompt_tokens, output_tokens,"
        " total_tokens, seconds, cost_usd, image_size, aspect_ratio, created_at",
    ),
    (
        "refs",
        "id, platform, scope, key, name, owner_id, prompt, created_at",
        "id, platform, scope, key, name, owner_id, prompt, created_at",
    ),
    ("ref_images", "ref_id, idx, image_sha256", "ref_id, idx, image_sha256"),
)
SEQUENCES = ("lineages", "turns", "usage", "refs")

Progress = Callable[[str, int, int], None]  # (what, done, total)


async def transfer(data_dir: Path, url: str, progress: Progress) -> dict[str, int]:
    """Copy everything in `data_dir` into the database at `url`; return the rows per table.

    Raises `RuntimeError` naming a table whose rows did not all arrive.
    """
    source = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
    files = ImageFiles(data_dir / IMAGES_DIR)
    async with PostgresStore.open(url):
        pass  # the schema, migrated
    target: Any = await asyncpg.connect(url)
    try:
        counts: dict[str, int] = {}
        for table, selected, filled in TABLES:
            total = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            marks = ", ".join(f"${n}" for n in range(1, len(filled.split(",")) + 1))
            insert = f"INSERT INTO {table} ({filled}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            progress(table, 0, total)
            done = 0
            # In batches: a large parts or usage table never sits in memory whole.
            cursor = source.execute(f"SELECT {selected} FROM {table} ORDER BY 1")
            while batch := cursor.fetchmany(BATCH):
                if table == "parts":  # SQLite keeps the thought flag as 0/1
                    batch = [(*r[:4], bool(r[4]), r[5]) for r in batch]
                await target.executemany(insert, batch)
                done += len(batch)
                progress(table, done, total)
            counts[table] = total
            if table == "images":
                digests = [str(r[0]) for r in source.execute("SELECT sha256 FROM images")]
                await _copy_bytes(target, files, digests, progress)
        for table in SEQUENCES:
            await target.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
            )
        for table, count in counts.items():
            arrived = await target.fetchval(f"SELECT count(*) FROM {table}")
            if arrived < count:
                raise RuntimeError(f"{table}: {arrived} of {count} rows arrived")
        return counts
    finally:
        await target.close()
        source.close()


async def _copy_bytes(
    target: Any, files: ImageFiles, digests: list[str], progress: Progress
) -> None:
    """Each image's file, as chunks (those already there are skipped)."""
    have = {r["sha256"] for r in await target.fetch("SELECT DISTINCT sha256 FROM image_chunks")}
    for n, digest in enumerate(digests, start=1):
        if digest not in have:
            data = files.path(digest).read_bytes()
            await target.executemany(
                "INSERT INTO image_chunks (sha256, idx, data) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [
                    (digest, i, data[start : start + CHUNK])
                    for i, start in enumerate(range(0, len(data), CHUNK))
                ],
            )
        progress("image files", n, len(digests))

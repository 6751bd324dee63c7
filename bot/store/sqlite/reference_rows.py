"""References in SQLite (`refs`, `ref_images`): the statements (the mapping is
`bot.store.rows`, shared with every store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.store import Reference
from bot.store.rows import (
    REFERENCE_COLUMNS,
    REFERENCE_IMAGE_COLUMNS,
    reference_row,
    references_from_rows,
)
from bot.store.sqlite.connection import lastrowid, rows


def save(db: sqlite3.Connection, reference: Reference) -> None:
    """Insert `reference`, replacing the one with its key in its scope (the caller's
    transaction; the replaced one's image rows go with it)."""
    db.execute(
        "DELETE FROM refs WHERE platform = ? AND scope = ? AND key = ?",
        (reference.platform, reference.scope, reference.key),
    )
    cur = db.execute(
        "INSERT INTO refs (platform, scope, key, name, owner_id, prompt, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        reference_row(reference),
    )
    ref_id = lastrowid(cur)
    db.executemany(
        "INSERT INTO ref_images (ref_id, idx, image_sha256) VALUES (?, ?, ?)",
        [(ref_id, i, image.sha256) for i, image in enumerate(reference.images)],
    )


def load(db: sqlite3.Connection, where: str, params: Sequence[Any]) -> list[Reference]:
    """The references `where` selects (over `refs r`), with their images, by scope and key."""
    sql = f"SELECT {REFERENCE_COLUMNS} FROM refs r WHERE {where} ORDER BY r.scope, r.key"
    found = rows(db, sql, tuple(params))
    if not found:
        return []
    ids = tuple(int(r[0]) for r in found)
    marks = ",".join("?" * len(ids))
    images = rows(
        db,
        f"SELECT {REFERENCE_IMAGE_COLUMNS} FROM ref_images x"
        f" JOIN images i ON i.sha256 = x.image_sha256 WHERE x.ref_id IN ({marks})"
        " ORDER BY x.ref_id, x.idx",
        ids,
    )
    return references_from_rows(found, images)


def delete(db: sqlite3.Connection, platform: str, scope: str, key: str) -> bool:
    """Delete one reference and its image rows; whether there was one."""
    cur = db.execute(
        "DELETE FROM refs WHERE platform = ? AND scope = ? AND key = ?", (platform, scope, key)
    )
    return cur.rowcount > 0

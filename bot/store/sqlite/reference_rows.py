"""References between SQLite rows (`refs`, `ref_images`) and the core's `Reference`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.lineage import ImageRef
from bot.store import Reference
from bot.store.sqlite.connection import lastrowid, rows

_COLUMNS = "r.id, r.platform, r.scope, r.name, r.owner_id, r.prompt, r.created_at"


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
        (
            reference.platform,
            reference.scope,
            reference.key,
            reference.name,
            reference.owner_id,
            reference.prompt,
            reference.created_at,
        ),
    )
    ref_id = lastrowid(cur)
    db.executemany(
        "INSERT INTO ref_images (ref_id, idx, image_sha256) VALUES (?, ?, ?)",
        [(ref_id, i, image.sha256) for i, image in enumerate(reference.images)],
    )


def load(db: sqlite3.Connection, where: str, params: Sequence[Any]) -> list[Reference]:
    """The references `where` selects (over `refs r`), with their images, by scope and key."""
    sql = f"SELECT {_COLUMNS} FROM refs r WHERE {where} ORDER BY r.scope, r.key"
    found = rows(db, sql, tuple(params))
    if not found:
        return []
    ids = [int(r[0]) for r in found]
    marks = ",".join("?" * len(ids))
    images: dict[int, list[ImageRef]] = {ref_id: [] for ref_id in ids}
    for ref_id, sha, mime, size in rows(
        db,
        "SELECT x.ref_id, x.image_sha256, i.mime_type, i.size FROM ref_images x"
        f" JOIN images i ON i.sha256 = x.image_sha256 WHERE x.ref_id IN ({marks})"
        " ORDER BY x.ref_id, x.idx",
        tuple(ids),
    ):
        images[int(ref_id)].append(ImageRef(str(sha), str(mime), int(size)))
    return [
        Reference(
            str(platform),
            str(scope),
            str(name),
            str(owner),
            tuple(images[int(ref_id)]),
            str(prompt),
            float(created),
        )
        for ref_id, platform, scope, name, owner, prompt, created in found
    ]


def delete(db: sqlite3.Connection, platform: str, scope: str, key: str) -> bool:
    """Delete one reference and its image rows; whether there was one."""
    cur = db.execute(
        "DELETE FROM refs WHERE platform = ? AND scope = ? AND key = ?", (platform, scope, key)
    )
    return cur.rowcount > 0

"""Turns and their parts between SQLite rows and the core's `Turn` dataclasses."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus
from bot.store.sqlite.connection import lastrowid

# The columns `load_turns` expects, in this order, from a query over `turns t`.
TURN_COLUMNS = (
    "t.id, t.lineage_id, t.parent_id, t.role, t.author_id, t.status, t.model, t.created_at"
)


def insert_turn(
    db: sqlite3.Connection,
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
    """Insert a turn and its parts (inside the caller's transaction); return its id."""
    cur = db.execute(
        "INSERT INTO turns (lineage_id, parent_id, role, author_id, status, model,"
        " created_at, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (lineage_id, parent_id, role, author_id, status, model, now, locale),
    )
    turn_id = lastrowid(cur)
    db.executemany(
        "INSERT INTO parts (turn_id, idx, text, image_sha256, thought, raw)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (turn_id, i, p.text, p.image.sha256 if p.image else None, int(p.thought), p.raw)
            for i, p in enumerate(parts)
        ],
    )
    return turn_id


def load_turns(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Turn]:
    """Run `sql` (selecting `TURN_COLUMNS`) and load each turn with its parts, in row order."""
    rows = db.execute(sql, params).fetchall()
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    marks = ",".join("?" * len(ids))
    part_rows = db.execute(
        "SELECT p.turn_id, p.text, p.image_sha256, i.mime_type, i.size, p.thought, p.raw"
        f" FROM parts p LEFT JOIN images i ON i.sha256 = p.image_sha256"
        f" WHERE p.turn_id IN ({marks}) ORDER BY p.turn_id, p.idx",
        ids,
    ).fetchall()
    parts: dict[int, list[Part]] = {i: [] for i in ids}
    for turn_id, text, sha, mime, size, thought, raw in part_rows:
        image = ImageRef(sha, mime, int(size)) if sha is not None else None
        parts[int(turn_id)].append(Part(text=text, image=image, thought=bool(thought), raw=raw))
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


def new_turn(
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
    """The `Turn` just inserted, without reading it back."""
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

"""Turns and their parts in SQLite: the inserts and the loading queries (the mapping itself is
`bot.store.rows`, shared with every store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.lineage import Part, Role, Turn, TurnStatus
from bot.store.rows import PART_COLUMNS, part_rows, turns_from_rows
from bot.store.sqlite.connection import lastrowid


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
    run: str | None = None,
) -> int:
    """Insert a turn and its parts (inside the caller's transaction); return its id.

    `run` names the run serving a user turn (`bot.coordination.Instance`)."""
    cur = db.execute(
        "INSERT INTO turns (lineage_id, parent_id, role, author_id, status, model,"
        " created_at, locale, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (lineage_id, parent_id, role, author_id, status, model, now, locale, run),
    )
    turn_id = lastrowid(cur)
    db.executemany(
        "INSERT INTO parts (turn_id, idx, text, image_sha256, thought, raw)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        part_rows(turn_id, parts),
    )
    return turn_id


def load_turns(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Turn]:
    """Run `sql` (selecting `TURN_COLUMNS`) and load each turn with its parts, in row order."""
    rows = db.execute(sql, params).fetchall()
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    marks = ",".join("?" * len(ids))
    found = db.execute(
        f"SELECT {PART_COLUMNS} FROM parts p LEFT JOIN images i ON i.sha256 = p.image_sha256"
        f" WHERE p.turn_id IN ({marks}) ORDER BY p.turn_id, p.idx",
        ids,
    ).fetchall()
    return turns_from_rows(rows, found)

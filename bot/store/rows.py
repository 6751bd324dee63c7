"""Rows to the core's dataclasses and back, for every store: the columns each query selects and
what they become. Only the SQL dialect differs between the backends; this mapping does not.

Rows are sequences indexed by position (sqlite3 tuples, asyncpg Records alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus, UsageRecord
from bot.request import ChatKey
from bot.store import PendingTurn, Reference

Row = Sequence[Any]

# A query over `turns t` selects these for `turns_from_rows`, in this order.
TURN_COLUMNS = (
    "t.id, t.lineage_id, t.parent_id, t.role, t.author_id, t.status, t.model, t.created_at"
)
# A query over `parts p LEFT JOIN images i` selects these, ordered by turn and index.
PART_COLUMNS = "p.turn_id, p.text, p.image_sha256, i.mime_type, i.size, p.thought, p.raw"
# A query over `refs r` selects these for `references_from_rows`.
REFERENCE_COLUMNS = "r.id, r.platform, r.scope, r.name, r.owner_id, r.prompt, r.created_at"
# `ref_images x JOIN images i`, ordered by reference and index.
REFERENCE_IMAGE_COLUMNS = "x.ref_id, x.image_sha256, i.mime_type, i.size"
# The usage ledger's columns as `usage_row` fills them.
USAGE_COLUMNS = (
    "platform, chat_id, pool, user_id, turn_id, images, prompt_tokens, output_tokens,"
    " total_tokens, seconds, cost_usd, image_size, aspect_ratio, created_at"
)
# A turn's usage as `usage_of` reads it.
USAGE_RECORD_COLUMNS = (
    "images, prompt_tokens, output_tokens, total_tokens, seconds, cost_usd, image_size,"
    " aspect_ratio"
)


def turns_from_rows(rows: Sequence[Row], part_rows: Sequence[Row]) -> list[Turn]:
    """The turns `rows` (TURN_COLUMNS) name, in row order, each with its parts (PART_COLUMNS)."""
    parts: dict[int, list[Part]] = {int(r[0]): [] for r in rows}
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


def part_rows(turn_id: int, parts: Sequence[Part]) -> list[tuple[Any, ...]]:
    """(turn_id, idx, text, image_sha256, thought, raw) for each part, to insert."""
    return [
        (turn_id, n, p.text, p.image.sha256 if p.image else None, p.thought, p.raw)
        for n, p in enumerate(parts)
    ]


def user_turn_stored(
    turn_id: int,
    lineage_id: int,
    parent_id: int | None,
    author_id: str,
    status: TurnStatus,
    parts: Sequence[Part],
    now: float,
) -> Turn:
    """The user `Turn` just inserted, without reading it back."""
    return Turn(
        turn_id, lineage_id, parent_id, Role.USER, author_id, status, tuple(parts), None, now
    )


def answer_stored(
    turn_id: int, user_turn: Turn, model: str, parts: Sequence[Part], now: float
) -> Turn:
    """The model `Turn` answering `user_turn` just inserted, without reading it back."""
    return Turn(
        turn_id,
        user_turn.lineage_id,
        user_turn.id,
        Role.MODEL,
        "model",
        TurnStatus.OK,
        tuple(parts),
        model,
        now,
    )


def usage_row(
    chat: ChatKey, author_id: str, turn_id: int, usage: UsageRecord, now: float
) -> tuple[Any, ...]:
    """The usage ledger's row (USAGE_COLUMNS) for one answer."""
    return (
        chat.platform,
        chat.chat_id,
        chat.pool,
        author_id,
        turn_id,
        usage.images,
        usage.prompt_tokens,
        usage.output_tokens,
        usage.total_tokens,
        usage.seconds,
        usage.cost_usd,
        usage.image_size,
        usage.aspect_ratio,
        now,
    )


def usage_of(row: Row | None) -> UsageRecord | None:
    """A usage row (USAGE_RECORD_COLUMNS) as a record."""
    return UsageRecord(*row) if row is not None else None


def reference_row(reference: Reference) -> tuple[Any, ...]:
    """(platform, scope, key, name, owner_id, prompt, created_at), to insert."""
    return (
        reference.platform,
        reference.scope,
        reference.key,
        reference.name,
        reference.owner_id,
        reference.prompt,
        reference.created_at,
    )


def references_from_rows(rows: Sequence[Row], image_rows: Sequence[Row]) -> list[Reference]:
    """References (REFERENCE_COLUMNS) with their images (REFERENCE_IMAGE_COLUMNS), in order."""
    images: dict[int, list[ImageRef]] = {int(r[0]): [] for r in rows}
    for ref_id, sha, mime, size in image_rows:
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
        for ref_id, platform, scope, name, owner, prompt, created in rows
    ]


# A query over `turns t JOIN lineages l` selects these (message: one message linked to it).
PENDING_COLUMNS = (
    "t.id, l.chat_id, t.author_id, t.locale,"
    " (SELECT message_id FROM links k WHERE k.turn_id = t.id LIMIT 1)"
)


def pending_turns_from_rows(platform: str, found: Sequence[Sequence[Any]]) -> list[PendingTurn]:
    """`PendingTurn`s from rows of `PENDING_COLUMNS` on `platform`, oldest first."""
    return [
        PendingTurn(int(r[0]), ChatKey(platform, r[1]), r[2], r[3], r[4])
        for r in sorted(found, key=lambda r: int(r[0]))
    ]


HOLD_MAX_AGE_S = 3600.0  # no step runs this long: an older hold was leaked, not held


def holdings_sql(platform: str, user: str, pool: str, since: str, old: str) -> str:
    """The query of the nine figures `Holdings.of` reads, given each parameter's placeholder
    in the store's SQL dialect: the ledger since `since`, the holds made after `old`."""
    user_rows = f"platform = {platform} AND user_id = {user}"
    pool_rows = f"platform = {platform} AND pool = {pool}"
    figures = [f"SELECT COUNT(*) FROM holds WHERE {user_rows} AND created_at > {old}"]
    for rows in (user_rows, pool_rows):
        figures += [
            f"SELECT COALESCE(SUM({column}), 0) FROM usage WHERE {rows} AND created_at >= {since}"
            for column in ("images", "cost_usd")
        ]
    for rows in (user_rows, pool_rows):
        figures += [
            f"SELECT COALESCE(SUM({column}), 0) FROM holds WHERE {rows} AND created_at > {old}"
            for column in ("images", "cost_usd")
        ]
    return "SELECT " + ", ".join(f"({figure})" for figure in figures)

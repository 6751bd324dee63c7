"""Benchmark 7: the store with 100 000 turns: resolving a reply link, building a 30-turn path.

The database is made by `SqliteStore.open` (so the schema and migrations are the real ones) and
filled by plain sqlite3 `executemany` in one transaction: lineages of 30 turns alternating user
(image + text) and model (text + image, with raw part JSON like Gemini's), one linked message
per turn, spread over 1000 chats, plus the usage rows of the model turns.
"""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary
from bot.request import ChatKey
from bot.store.sqlite import DB_NAME, SqliteStore

DEPTH = 30
CHATS = 1000
P99_TARGET_S = 0.002
_SIGNATURE = "c2lnbmF0dXJl" * 8  # ~100 base64 characters, like a thought signature


def _chat_of(lineage: int) -> str:
    return str(1_000_000 + lineage % CHATS)


def fill(path: Path, turns: int) -> int:
    """Insert `turns` turns in lineages of DEPTH; return the number of lineages."""
    lineages = math.ceil(turns / DEPTH)
    now = time.time()
    rows_lineages: list[tuple[Any, ...]] = []
    rows_turns: list[tuple[Any, ...]] = []
    rows_images: list[tuple[Any, ...]] = []
    rows_parts: list[tuple[Any, ...]] = []
    rows_links: list[tuple[Any, ...]] = []
    rows_usage: list[tuple[Any, ...]] = []
    turn_id = 0
    for lineage in range(1, lineages + 1):
        chat = _chat_of(lineage)
        rows_lineages.append((lineage, "telegram", chat, now))
        parent = None
        for depth in range(min(DEPTH, turns - turn_id)):
            turn_id += 1
            user = depth % 2 == 0
            role, status, model = ("user", "answered", None) if user else ("model", "ok", "m")
            rows_turns.append((turn_id, lineage, parent, role, "42", status, model, now))
            sha = f"{turn_id:064x}"
            if user:
                rows_images.append((sha, "image/jpeg", 450_000, now))
                rows_parts.append((turn_id, 0, None, sha, 0, None))
                rows_parts.append((turn_id, 1, "make the sky purple", None, 0, None))
            else:
                rows_images.append((sha, "image/png", 1_500_000, now))
                text_raw = '{"text":"Here is your edited image."}'
                image_raw = (
                    '{"inline_data":{"mime_type":"image/png"},'
                    f'"thought_signature":"{_SIGNATURE}"}}'
                )
                rows_parts.append((turn_id, 0, "Here is your edited image.", None, 0, text_raw))
                rows_parts.append((turn_id, 1, None, sha, 0, image_raw))
                rows_usage.append(("telegram", chat, "42", turn_id, 1, 600, 1300, 1900, now))
            rows_links.append(("telegram", chat, str(turn_id), turn_id))
            parent = turn_id
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("BEGIN")
        db.executemany("INSERT INTO lineages VALUES (?, ?, ?, ?)", rows_lineages)
        db.executemany(
            "INSERT INTO turns (id, lineage_id, parent_id, role, author_id, status, model,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows_turns,
        )
        db.executemany("INSERT INTO images VALUES (?, ?, ?, ?)", rows_images)
        db.executemany(
            "INSERT INTO parts (turn_id, idx, text, image_sha256, thought, raw)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows_parts,
        )
        db.executemany("INSERT INTO links VALUES (?, ?, ?, ?)", rows_links)
        db.executemany(
            "INSERT INTO usage (platform, chat_id, user_id, turn_id, images, prompt_tokens,"
            " output_tokens, total_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows_usage,
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return lineages


async def run(session: Session) -> Section:
    plan = session.plan
    data_dir = session.workdir("store")
    async with SqliteStore.open(data_dir):
        pass  # schema and migrations
    started = time.perf_counter()
    lineages = await asyncio.to_thread(fill, data_dir / DB_NAME, plan.store_turns)
    filled_s = time.perf_counter() - started
    rng = random.Random(7)
    link_times: list[float] = []
    path_times: list[float] = []
    async with SqliteStore.open(data_dir) as store:
        full = [n for n in range(1, lineages + 1) if n * DEPTH <= plan.store_turns]
        for measured in (False, True):  # the first pass warms SQLite's page cache
            for _ in range(plan.store_samples if measured else 100):
                turn = rng.randint(1, plan.store_turns)
                chat = ChatKey("telegram", _chat_of((turn - 1) // DEPTH + 1))
                start = time.perf_counter()
                found = await store.resolve_link(chat, str(turn))
                took = time.perf_counter() - start
                assert found is not None
                assert found.id == turn
                if measured:
                    link_times.append(took)
                last = rng.choice(full) * DEPTH
                start = time.perf_counter()
                path = await store.path(last)
                took = time.perf_counter() - start
                assert len(path) == DEPTH
                if measured:
                    path_times.append(took)
    link, path_summary = Summary.of(link_times), Summary.of(path_times)
    section = Section(
        "7. Store at 100 000 turns",
        __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        [
            Table(
                ("query", *(f"{h} (ms)" for h in SUMMARY_HEADER), "samples"),
                [
                    ["Store.resolve_link", *summary_cells(link, 1000, 3), str(link.count)],
                    [
                        f"Store.path ({DEPTH} turns)",
                        *summary_cells(path_summary, 1000, 3),
                        str(path_summary.count),
                    ],
                ],
                f"{plan.store_turns} turns in {lineages} lineages (filled in {filled_s:.1f} s), "
                "random targets, after 100 unmeasured calls.",
            )
        ],
    )
    section.checks += [
        Check(
            "Store p99, resolve_link",
            "<= 2 ms at 100 000 turns",
            f"{num(link.p99 * 1000, 3)} ms",
            link.p99 <= P99_TARGET_S,
        ),
        Check(
            "Store p99, 30-turn path",
            "<= 2 ms at 100 000 turns",
            f"{num(path_summary.p99 * 1000, 3)} ms",
            path_summary.p99 <= P99_TARGET_S,
        ),
    ]
    return section

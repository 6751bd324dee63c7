"""Benchmark 9: /history's storyboard of a 30-edit lineage, drawn the way the bot draws it.

A real `SqliteStore` holds one lineage: the bench's photo (a 1280x960 JPEG) and then results,
each the bench's 1024x1024 PNG of about 1.5 MB made distinct by a text chunk (another file, the
same decoding cost). *Cold* is the first /history of a 30-edit result after a start: a new
`bot.history.Storyboards`, nothing cached, so every picture is read, decoded and shrunk (one
low-priority thread per core) before the board is drawn and encoded, after one unmeasured draw
(threads started, font loaded). *One step later* is the usual repeat: the
lineage grew by one result, and only its picture is new. A 5 ms ticker measures the event
loop's longest stall while the cold boards are drawn: the drawing must leave the loop free.
There is no floor bot column: the floor bot has no storyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator

from PIL import Image

from bench.payloads import png_variant
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary
from bot.boards import Boards
from bot.history import Storyboards
from bot.lineage import Part, Turn, UsageRecord
from bot.request import ChatKey
from bot.store import Store
from bot.store.sqlite import SqliteStore

EDITS = 30
TARGET_S = 1.0
TICK_S = 0.005
CHAT = ChatKey("telegram", "1")
INSTRUCTIONS = (
    "make the sky a warm sunset and add a small cat on the bench",
    "把天空换成日落，在长椅左边加一只小猫",
    "now make it look like a watercolour painting with soft edges",
)


async def lineage(store: Store, photo: bytes, result: bytes, edits: int) -> list[int]:
    """Store a photo and `edits` results in one lineage; return the results' turn ids."""
    parent: Turn | None = None
    results: list[int] = []
    for n in range(edits):
        parts = [Part(text=INSTRUCTIONS[n % len(INSTRUCTIONS)])]
        if parent is None:
            parts.insert(0, Part(image=await store.put_image(photo, "image/jpeg")))
        user = await store.add_user_turn(
            CHAT, "42", parent.id if parent else None, parts, message_ids=[f"u{n}"]
        )
        image = await store.put_image(png_variant(result, n), "image/png")
        parent = await store.add_model_turn(
            CHAT, user, "m", [Part(image=image)], UsageRecord(images=1), "42"
        )
        results.append(parent.id)
    return results


@contextlib.asynccontextmanager
async def stalls() -> AsyncIterator[list[float]]:
    """Yield a list that ends up holding the loop's longest stall (s) while the block ran."""
    worst = [0.0]

    async def tick() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            worst[0] = max(worst[0], time.perf_counter() - started - TICK_S)

    ticker = asyncio.create_task(tick())
    try:
        yield worst
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


async def run(session: Session) -> Section:
    runs = 2 if session.quick else 10
    photo = session.payloads.photo.read_bytes()
    result = session.payloads.result.read_bytes()
    cold: list[float] = []
    later: list[float] = []
    async with SqliteStore.open(session.workdir("storyboard")) as store:
        results = await lineage(store, photo, result, EDITS + 1)
        path = await store.path(results[EDITS - 1])
        grown = await store.path(results[EDITS])
        await Storyboards(Boards(store)).draw(path, "en")  # unmeasured: threads, fonts, page cache
        async with stalls() as worst:
            for _ in range(runs):
                boards = Storyboards(Boards(store))  # a fresh start: nothing cached
                started = time.perf_counter()
                board = await boards.draw(path, "en")
                cold.append(time.perf_counter() - started)
                started = time.perf_counter()
                await boards.draw(grown, "en")
                later.append(time.perf_counter() - started)
    with Image.open(io.BytesIO(board.picture)) as drawn:
        size = drawn.size
    first, again = Summary.of(cold), Summary.of(later)
    section = Section(
        "9. Storyboard (/history)",
        __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        [
            Table(
                ("draw", *(f"{h} (ms)" for h in SUMMARY_HEADER), "samples"),
                [
                    [f"cold, {EDITS} edits", *summary_cells(first, 1000), str(first.count)],
                    [
                        f"one step later, {EDITS + 1} edits",
                        *summary_cells(again, 1000),
                        str(again.count),
                    ],
                ],
                f"The board: {size[0]}x{size[1]} px, {len(board.picture) // 1024} KB JPEG; "
                f"longest event-loop stall while drawing: {worst[0] * 1000:.1f} ms.",
            )
        ],
    )
    section.checks.append(
        Check(
            f"Storyboard of {EDITS} edits, cold (median)",
            f"< {TARGET_S:.0f} s",
            f"{num(first.median * 1000, 0)} ms",
            first.median < TARGET_S,
        )
    )
    return section

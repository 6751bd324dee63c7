"""Benchmark 5: event-loop lag while ~20 MB images are validated and normalized.

A probe task sleeps 5 ms again and again and records how late each wake-up is. Two settings:
`bot.images.prepare_image` called directly in this process (several images at once), and the
whole bot (traced, probe inside its loop) receiving the same images as documents in several
chats at once: download, validation, normalization, storage, the model request, the upload.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.harness import Fakes, Message, bot_process, wait_ready
from bench.payloads import jpeg_variant, png_variant
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary
from bench.steps import load_lag, one_step
from bot.images import DEFAULT_LIMITS, prepare_image
from bot.intake import MAX_PARALLEL_IMAGE_JOBS

PERIOD_S = 0.005
LAG_TARGET_S = 0.050
FIRST_CHAT = 8000


async def _probe(samples: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(PERIOD_S)
        samples.append(loop.time() - start - PERIOD_S)


def _images(session: Session) -> list[bytes]:
    big_jpeg = Path(session.payloads.big_jpeg).read_bytes()
    big_png = Path(session.payloads.big_png).read_bytes()
    return [
        jpeg_variant(big_jpeg, n) if n % 2 == 0 else png_variant(big_png, n)
        for n in range(session.plan.lag_images)
    ]


async def in_process(session: Session) -> tuple[list[float], float]:
    """(lag samples, seconds per round) for prepare_image on every image, as the engine runs
    it: at most MAX_PARALLEL_IMAGE_JOBS at once."""
    images = _images(session)
    samples: list[float] = []
    loop = asyncio.get_running_loop()
    jobs = asyncio.Semaphore(MAX_PARALLEL_IMAGE_JOBS)

    async def prepare(data: bytes) -> None:
        async with jobs:
            await prepare_image(data)

    took = 0.0
    for _ in range(session.plan.lag_rounds):
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(samples, stop))
        start = loop.time()
        await asyncio.gather(*(prepare(data) for data in images))
        took += loop.time() - start
        stop.set()
        await probe
    return samples, took / session.plan.lag_rounds


async def through_bot(session: Session) -> tuple[list[float], float, list[str]]:
    """(lag samples, seconds until all answered per round, answer methods), traced bot."""
    work = session.workdir("lag-bot")
    count = session.plan.lag_images
    windows: list[tuple[float, float]] = []
    methods: list[str] = []
    async with (
        Fakes.running(session.payloads, work) as fakes,
        bot_process("traced", fakes, work, lag_probe=True, fixes=session.fixes) as bot,
    ):
        await wait_ready(bot, fakes)
        await one_step(bot, fakes, Message(FIRST_CHAT - 1))
        for round_index in range(session.plan.lag_rounds):
            messages = [
                Message(
                    FIRST_CHAT + round_index * count + n,
                    payload="big_jpeg" if n % 2 == 0 else "big_png",
                    document=True,
                    caption="make it warmer",
                )
                for n in range(count)
            ]
            released = await fakes.send(messages)
            # No settle(): the probe keeps the bot from ever looking idle.
            _complete, answers = await fakes.answers([r.key for r in released], timeout=180)
            start = min(r.t_available for r in released)
            windows.append((start, max((a.t for a in answers.values()), default=start)))
            methods += [a.method for a in answers.values()]
    samples = load_lag(work / "trace.json")
    lag = [value for t, value in samples if any(a <= t <= b for a, b in windows)]
    busy = sum(b - a for a, b in windows) / len(windows)
    return lag, busy, methods


async def run(session: Session) -> Section:
    count = session.plan.lag_images
    rounds = session.plan.lag_rounds
    direct, direct_s = await in_process(session)
    bot_lag, bot_s, methods = await through_bot(session)
    rows = []
    for label, samples, took in (
        (
            f"prepare_image, {count} images, {MAX_PARALLEL_IMAGE_JOBS} at a time, in-process",
            direct,
            direct_s,
        ),
        (f"the bot, {count} documents in {count} chats at once", bot_lag, bot_s),
    ):
        rows.append(
            [label, str(len(samples)), num(took, 2), *summary_cells(Summary.of(samples), 1000)]
        )
    table = Table(
        (
            "setting",
            "probe samples",
            "busy per round (s)",
            *(f"lag {h} (ms)" for h in SUMMARY_HEADER),
        ),
        rows,
        "Half of the images are a 6000x4500 JPEG of 19.8 MB (decoded at reduced scale, "
        f"re-encoded: {DEFAULT_LIMITS.max_side} px limit), half a 2550x2550 PNG of 19.5 MB "
        "(decoded, re-encoded as JPEG to fit "
        f"{DEFAULT_LIMITS.max_output_bytes / 1024 / 1024:.0f} MB). Lateness of 5 ms sleeps while "
        f"they are processed, {rounds} rounds pooled.",
    )
    photos = sum(1 for m in methods if m == "sendPhoto")
    section = Section(
        "5. Event-loop lag with ~20 MB images",
        __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        [table],
        notes=[f"The bot answered {photos}/{count * rounds} with a photo."],
    )
    worst_direct = max(direct, default=float("nan"))
    worst_bot = max(bot_lag, default=float("nan"))
    section.checks += [
        Check(
            "Event-loop lag, prepare_image",
            "<= 50 ms",
            f"max {num(worst_direct * 1000)} ms",
            worst_direct <= LAG_TARGET_S,
        ),
        Check(
            "Event-loop lag, whole bot",
            "<= 50 ms",
            f"max {num(worst_bot * 1000)} ms, p99 {num(Summary.of(bot_lag).p99 * 1000)} ms",
            worst_bot <= LAG_TARGET_S and photos == count * rounds,
        ),
    ]
    return section

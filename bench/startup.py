"""Benchmark 6: process start to the first getUpdates, ours next to the floor."""

from __future__ import annotations

import statistics

from bench.harness import BotKind, Fakes, bot_process, wait_ready
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary, ratio

RATIO_TARGET = 1.5


async def run(session: Session) -> Section:
    """One warm-up start each (not counted), then alternating measured starts."""
    times: dict[str, list[float]] = {"ours": [], "floor": []}
    work = session.workdir("startup")
    async with Fakes.running(session.payloads, work) as fakes:
        kinds: tuple[BotKind, BotKind] = ("ours", "floor")
        for run_index in range(session.plan.startup_runs + 1):
            for kind in kinds if run_index % 2 == 0 else kinds[::-1]:
                async with bot_process(kind, fakes, session.workdir(f"startup-{kind}")) as bot:
                    took = await wait_ready(bot, fakes)
                if run_index > 0:
                    times[kind].append(took)
    median = {k: statistics.median(v) for k, v in times.items()}
    section = Section(
        "6. Start-up",
        "From spawning the process (`python -m bot run --config ...` with a fresh data dir, "
        "so the store is created and migrated; the floor: `python -m bench.floor_bot`) to the "
        "fake receiving its first getUpdates. Warm file cache; one unmeasured start each first.",
        [
            Table(
                ("bot", *(f"{h} (ms)" for h in SUMMARY_HEADER), "runs"),
                [
                    [kind, *summary_cells(Summary.of(values), 1000, 0), str(len(values))]
                    for kind, values in times.items()
                ],
            )
        ],
    )
    startup_ratio = ratio(median["ours"], median["floor"])
    section.checks.append(
        Check(
            "Start-up",
            "<= 1.5 x floor",
            f"{num(startup_ratio, 2)} x ({num(median['ours'] * 1000, 0)} vs "
            f"{num(median['floor'] * 1000, 0)} ms, medians)",
            startup_ratio <= RATIO_TARGET,
        )
    )
    return section

"""Benchmark 3: a burst of chats at once (200 chats, 2 s model latency), ours next to the floor."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.harness import BotKind, Fakes, Message, bot_process, wait_ready
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary, ratio
from bench.steps import one_step

FIRST_CHAT = 10_000
WARMUP_CHAT = 9_999
WALL_RATIO_TARGET = 0.6
CPU_VS_SEQUENTIAL_TARGET = 1.5


@dataclass(frozen=True, slots=True)
class BurstRun:
    """One burst in one fresh bot process."""

    answered: int
    photos: int
    wall_s: float  # first update available -> last sendPhoto held by the fake
    step_latencies_s: list[float]
    cpu_per_step_s: float
    peak_rss_kb: int
    rss_before_kb: int


async def measure(session: Session, kind: BotKind) -> BurstRun:
    """Warm up with two sequential steps, then release every chat's update at once."""
    plan = session.plan
    work = session.workdir(f"burst-{kind}")
    async with (
        Fakes.running(session.payloads, work) as fakes,
        bot_process(kind, fakes, work, fixes=session.fixes) as bot,
    ):
        await wait_ready(bot, fakes)
        for _ in range(2):
            await one_step(bot, fakes, Message(WARMUP_CHAT))
        await fakes.set_model_latency(plan.burst_latency_s)
        rss_before = bot.memory_kb()["VmRSS"]
        cpu0 = bot.cpu_seconds()
        chats = [Message(FIRST_CHAT + n) for n in range(plan.burst_chats)]
        released = await fakes.send(chats)
        _complete, answers = await fakes.answers(
            [r.key for r in released], timeout=120 + plan.burst_chats
        )
        peak = bot.memory_kb()["VmHWM"]
        await bot.settle(limit_s=30)
        cpu = bot.cpu_seconds() - cpu0
    start = min(r.t_available for r in released)
    latencies = [answers[r.key].t - r.t_available for r in released if r.key in answers]
    return BurstRun(
        answered=len(answers),
        photos=sum(1 for a in answers.values() if a.method == "sendPhoto"),
        wall_s=max(a.t for a in answers.values()) - start if answers else float("nan"),
        step_latencies_s=latencies,
        cpu_per_step_s=cpu / plan.burst_chats,
        peak_rss_kb=peak,
        rss_before_kb=rss_before,
    )


async def run(session: Session) -> Section:
    """Alternate ours and the floor, each burst in fresh processes."""
    plan = session.plan
    runs: dict[str, list[BurstRun]] = {"ours": [], "floor": []}
    for run_index in range(plan.burst_runs):
        kinds: tuple[BotKind, BotKind] = (
            ("ours", "floor") if run_index % 2 == 0 else ("floor", "ours")
        )
        for bot_kind in kinds:
            runs[bot_kind].append(await measure(session, bot_kind))

    rows = []
    for kind, found in runs.items():
        rows.append(
            [
                kind,
                "wall until all answered (s)",
                *summary_cells(Summary.of([r.wall_s for r in found]), 1, 2),
            ]
        )
        rows.append(
            [
                kind,
                "CPU per step (ms)",
                *summary_cells(Summary.of([r.cpu_per_step_s for r in found]), 1000),
            ]
        )
        rows.append(
            [
                kind,
                "peak RSS, VmHWM (MB)",
                *summary_cells(Summary.of([r.peak_rss_kb / 1024 for r in found]), 1, 0),
            ]
        )
        rows.append(
            [
                kind,
                "RSS before the burst (MB)",
                *summary_cells(Summary.of([r.rss_before_kb / 1024 for r in found]), 1, 0),
            ]
        )
        latencies = [x for r in found for x in r.step_latencies_s]
        rows.append(
            [kind, "one step's wall, all runs (s)", *summary_cells(Summary.of(latencies), 1, 2)]
        )
    table = Table(
        ("bot", "measure", *SUMMARY_HEADER),
        rows,
        f"{plan.burst_runs} bursts per bot of {plan.burst_chats} chats.",
    )
    ours = runs["ours"]
    wall = {k: statistics.median(r.wall_s for r in v) for k, v in runs.items()}
    peak = {k: statistics.median(r.peak_rss_kb for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r.cpu_per_step_s for r in v) for k, v in runs.items()}
    sequential = float(session.shared.get("sequential_cpu_s", float("nan")))
    all_answered = all(r.photos == plan.burst_chats for r in ours)
    session.shared["burst_cpu_s"] = cpu
    section = Section(
        "3. Burst: 200 chats at once",
        f"{plan.burst_chats} private chats each send a photo with a caption; all updates become "
        f"available at the same instant; the model answers after {plan.burst_latency_s:g} s. "
        "Fresh processes per burst (after two sequential warm-up steps), so VmHWM is the "
        "burst's peak. Ours runs with `max_concurrent_requests = 256`.",
        [table],
    )
    section.checks += [
        Check(
            "Burst: all answered",
            f"{plan.burst_chats}/{plan.burst_chats} photos",
            ", ".join(f"{r.photos}/{plan.burst_chats}" for r in ours),
            all_answered,
        ),
        Check(
            "Burst wall",
            "<= 0.6 x floor",
            f"{num(ratio(wall['ours'], wall['floor']), 2)} x ({num(wall['ours'], 2)} vs "
            f"{num(wall['floor'], 2)} s)",
            ratio(wall["ours"], wall["floor"]) <= WALL_RATIO_TARGET,
        ),
        Check(
            "Burst peak RSS",
            "<= floor",
            f"{num(peak['ours'] / 1024, 0)} vs {num(peak['floor'] / 1024, 0)} MB",
            peak["ours"] <= peak["floor"],
        ),
        Check(
            "Burst CPU per step",
            "<= 1.5 x our sequential",
            f"{num(ratio(cpu['ours'], sequential), 2)} x ({num(cpu['ours'] * 1000)} vs "
            f"{num(sequential * 1000)} ms; floor {num(cpu['floor'] * 1000)} ms)",
            ratio(cpu["ours"], sequential) <= CPU_VS_SEQUENTIAL_TARGET,
        ),
    ]
    section.notes.append(
        "Answered with a photo, per run: "
        + "; ".join(
            f"{kind} " + ", ".join(f"{r.photos}/{plan.burst_chats}" for r in found)
            for kind, found in runs.items()
        )
        + "."
    )
    return section

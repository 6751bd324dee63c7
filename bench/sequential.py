"""Benchmarks 1 and 2: overhead per step, one step at a time, ours next to the floor bot."""

from __future__ import annotations

import statistics

from bench.harness import BotKind, Fakes, Message, bot_process, wait_ready
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary, ratio
from bench.steps import PHASES, StepSample, attach_breakdown, load_trace, one_step

CHAT = 5000
CPU_RATIO_TARGET = 1.3
WALL_MARGIN_S = 0.010


async def measure(session: Session, kind: BotKind) -> tuple[list[StepSample], float]:
    """One fresh process: warm up, then measured steps; (samples, total CPU s / step)."""
    plan = session.plan
    work = session.workdir(f"sequential-{kind}")
    async with (
        Fakes.running(session.payloads, work) as fakes,
        bot_process(kind, fakes, work, fixes=session.fixes) as bot,
    ):
        await wait_ready(bot, fakes)
        for _ in range(plan.seq_warmup):
            await one_step(bot, fakes, Message(CHAT))
        cpu0 = bot.cpu_seconds()
        samples = [await one_step(bot, fakes, Message(CHAT)) for _ in range(plan.seq_steps)]
        cpu_per_step = (bot.cpu_seconds() - cpu0) / plan.seq_steps
    if kind == "traced":
        trace = load_trace(work / "trace.json")
        for sample in samples:
            attach_breakdown(sample, trace[(sample.chat, sample.message_id)])
    bad = [s for s in samples if s.answer_method != "sendPhoto"]
    if bad:
        raise RuntimeError(f"{kind}: {len(bad)} steps answered without a photo; see {work}")
    return samples, cpu_per_step


async def run(session: Session) -> Section:
    """Runs alternate ours/floor so drift hits both; the traced run comes last."""
    samples: dict[str, list[StepSample]] = {"ours": [], "floor": [], "traced": []}
    coarse: dict[str, list[float]] = {"ours": [], "floor": [], "traced": []}
    for run_index in range(session.plan.seq_runs):
        kinds: tuple[BotKind, BotKind] = (
            ("ours", "floor") if run_index % 2 == 0 else ("floor", "ours")
        )
        for bot_kind in kinds:
            found, per_step = await measure(session, bot_kind)
            samples[bot_kind] += found
            coarse[bot_kind].append(per_step)
    found, per_step = await measure(session, "traced")
    samples["traced"] += found
    coarse["traced"].append(per_step)

    cpu = {k: Summary.of([s.cpu_s for s in v]) for k, v in samples.items()}
    mean_cpu = {k: statistics.fmean(s.cpu_s for s in v) for k, v in samples.items()}
    overhead = {k: Summary.of([s.overhead_s for s in v]) for k, v in samples.items()}
    wall = {k: Summary.of([s.wall_s for s in v]) for k, v in samples.items()}
    session.shared["sequential_cpu_s"] = mean_cpu["ours"]
    session.shared["sequential_floor_cpu_s"] = mean_cpu["floor"]

    labels = {"ours": "ours", "floor": "floor", "traced": "ours, traced"}
    rows = []
    for kind, label in labels.items():
        rows.append([label, "CPU per step (ms)", *summary_cells(cpu[kind], 1000)])
        rows.append([label, "overhead per step (ms)", *summary_cells(overhead[kind], 1000)])
        rows.append([label, "wall incl. fakes (ms)", *summary_cells(wall[kind], 1000)])
    totals = Table(
        ("bot", "per step", *SUMMARY_HEADER),
        rows,
        f"{len(samples['ours'])} steps per bot ({session.plan.seq_runs} processes x "
        f"{session.plan.seq_steps} steps after {session.plan.seq_warmup} warm-up steps; model "
        "latency 0).",
    )
    means = Table(
        ("bot", "mean CPU per step (ms, schedstat)", "CPU per step (ms, /proc stat totals)"),
        [
            [labels[k], num(mean_cpu[k] * 1000), num(statistics.fmean(coarse[k]) * 1000)]
            for k in labels
        ],
    )
    cpu_ratio = ratio(mean_cpu["ours"], mean_cpu["floor"])
    wall_gap = overhead["ours"].median - overhead["floor"].median
    comparison = Table(
        ("comparison", "value"),
        [
            ["CPU per step, ours / floor (means)", f"{num(cpu_ratio, 2)} x"],
            [
                "CPU per step, ours / floor (medians)",
                f"{num(ratio(cpu['ours'].median, cpu['floor'].median), 2)} x",
            ],
            ["overhead per step, ours - floor (medians)", f"{num(wall_gap * 1000)} ms"],
            [
                "overhead per step, ours / floor (medians)",
                f"{num(ratio(overhead['ours'].median, overhead['floor'].median), 2)} x",
            ],
        ],
    )
    breakdown = _breakdown_table(samples["traced"])
    section = Section(
        "1-2. Overhead per step, and the floor",
        "One photo with a caption at a time in a private chat (a new lineage per step), zero "
        "model latency. Ours and the floor run alternately in fresh processes; the breakdown "
        "is from the traced run (phases are exclusive: a store call inside the request build "
        "counts as store).",
        [totals, means, comparison, breakdown],
    )
    section.checks.append(
        Check(
            "Sequential CPU per step",
            "<= 1.3 x floor",
            f"{num(cpu_ratio, 2)} x ({num(mean_cpu['ours'] * 1000)} vs "
            f"{num(mean_cpu['floor'] * 1000)} ms)",
            cpu_ratio <= CPU_RATIO_TARGET,
        )
    )
    section.checks.append(
        Check(
            "Sequential wall per step",
            "<= floor + 10 ms",
            f"floor + {num(wall_gap * 1000)} ms ({num(overhead['ours'].median * 1000)} vs "
            f"{num(overhead['floor'].median * 1000)} ms overhead, medians)",
            wall_gap <= WALL_MARGIN_S,
        )
    )
    return section


def _breakdown_table(samples: list[StepSample]) -> Table:
    rows = []
    total_wall = total_cpu = 0.0
    for phase, meaning in PHASES:
        walls = [s.phases_wall.get(phase, 0.0) for s in samples]
        cpus = [s.phases_cpu.get(phase, 0.0) for s in samples]
        wall_median = statistics.median(walls) if walls else 0.0
        cpu_median = statistics.median(cpus) if cpus else 0.0
        total_wall += wall_median
        total_cpu += cpu_median
        cpu_cell = "-" if phase == "receive" else num(cpu_median * 1000, 2)
        rows.append([phase, num(wall_median * 1000, 2), cpu_cell, meaning])
    rows.append(["sum of medians", num(total_wall * 1000, 2), num(total_cpu * 1000, 2), ""])
    return Table(
        ("phase", "wall (ms, median)", "CPU (ms, median)", "what"),
        rows,
        "Where one step's overhead goes (traced run; CPU is the whole process's, so work in "
        "worker threads shows up; 'other' CPU also holds the receive phase and the step's tail "
        "after the photo arrived: linking the posted message).",
    )

"""Benchmark 4: one lineage growing from 1 to 30 turns, each a reply to the latest result."""

from __future__ import annotations

import statistics

from bench.harness import Fakes, Message, bot_process, wait_ready
from bench.report import Check, Section, Table, num
from bench.session import Session
from bench.stats import ratio
from bench.steps import StepSample, attach_breakdown, load_trace, one_step

CHAT = 7000
WARMUP_CHAT = 7001
FLAT_TOLERANCE = 0.05  # request size within +-5 % of the last turn's counts as flat
OVERHEAD_RATIO_TARGET = 1.5
MODELS = (
    ("gemini-2.5-flash-image", "2.5 Flash Image (3 input images)"),
    ("gemini-3-pro-image-preview", "3 Pro Image (14 input images, 16 MB budget)"),
)


async def measure(session: Session, model: str) -> list[StepSample]:
    """One lineage of `growth_turns` turns in a fresh traced bot."""
    work = session.workdir(f"growth-{model}")
    turns = session.plan.growth_turns
    async with (
        Fakes.running(session.payloads, work, model=model) as fakes,
        bot_process("traced", fakes, work, model=model, fixes=session.fixes) as bot,
    ):
        await wait_ready(bot, fakes)
        await one_step(bot, fakes, Message(WARMUP_CHAT))
        samples = [await one_step(bot, fakes, Message(CHAT, caption="put a hat on the cat"))]
        for turn in range(2, turns + 1):
            text = f"edit {turn}: make it a little brighter"
            reply_to = samples[-1].answer_message_id
            message = Message(CHAT, payload=None, text=text, reply_to=reply_to)
            samples.append(await one_step(bot, fakes, message))
            if samples[-1].answer_method != "sendPhoto":
                raise RuntimeError(f"growth ({model}): turn {turn} got no photo; see {work}")
    trace = load_trace(work / "trace.json")
    for sample in samples:
        attach_breakdown(sample, trace[(sample.chat, sample.message_id)])
    return samples


def _flat_from(sizes: list[float]) -> int:
    """The first turn (1-based) from which every request is within tolerance of the last."""
    last = sizes[-1]
    start = len(sizes)
    for index in range(len(sizes) - 1, -1, -1):
        if abs(sizes[index] - last) > FLAT_TOLERANCE * last:
            break
        start = index + 1
    return start


async def run(session: Session) -> Section:
    """Both context budgets: few images (rebases early) and many (rebases on bytes)."""
    plan = session.plan
    section = Section(
        "4. Growth: one lineage from 1 to 30 turns",
        "Turn 1 is a photo with a caption; every later turn is a text reply to the previous "
        "result (so the path grows by two turns each time). Model latency 0; each result is a "
        "distinct 1.5 MB PNG. Traced bot (see 1-2); per-turn figures are medians over "
        f"{plan.growth_runs} fresh runs. 'build' = request_build + store_in wall, 'model' = the "
        "SDK call's own wall (serialize, send, decode) minus the fake's time.",
    )
    for model, label in MODELS:
        runs = [await measure(session, model) for _ in range(plan.growth_runs)]
        per_turn = list(zip(*runs, strict=True))

        def median(values: list[float]) -> float:
            return statistics.median(values)

        sizes = [median([s.request_bytes for s in turn]) for turn in per_turn]
        overheads = [median([s.overhead_s for s in turn]) for turn in per_turn]
        rows = []
        for number, turn in enumerate(per_turn, start=1):
            rows.append(
                [
                    str(number),
                    num(sizes[number - 1] / 1e6, 2),
                    str(int(median([s.request_images for s in turn]))),
                    num(overheads[number - 1] * 1000),
                    num(median([s.cpu_s for s in turn]) * 1000),
                    num(
                        median(
                            [
                                s.phases_wall.get("request_build", 0.0)
                                + s.phases_wall.get("store_in", 0.0)
                                for s in turn
                            ]
                        )
                        * 1000
                    ),
                    num(median([s.phases_wall.get("model_call", 0.0) for s in turn]) * 1000),
                ]
            )
        section.tables.append(
            Table(
                (
                    "turn",
                    "request (MB)",
                    "images sent",
                    "overhead (ms)",
                    "CPU (ms)",
                    "build (ms)",
                    "model (ms)",
                ),
                rows,
                f"**{label}** (`{model}`)",
            )
        )
        flat_from = _flat_from(sizes)
        last = len(sizes)
        spread = (max(sizes[flat_from - 1 :]) - min(sizes[flat_from - 1 :])) / sizes[-1]
        growth = ratio(overheads[-1], overheads[0])
        section.checks += [
            Check(
                f"Growth, {label}: request size",
                "flat once the budget is reached",
                f"flat from turn {flat_from} of {last} at {num(sizes[-1] / 1e6, 2)} MB "
                f"(spread {num(spread * 100)} %), peak {num(max(sizes) / 1e6, 2)} MB",
                flat_from <= max(2, last - 5),
            ),
            Check(
                f"Growth, {label}: overhead",
                f"turn {last} <= 1.5 x turn 1",
                f"{num(growth, 2)} x ({num(overheads[-1] * 1000)} vs "
                f"{num(overheads[0] * 1000)} ms)",
                growth <= OVERHEAD_RATIO_TARGET,
            ),
        ]
    return section

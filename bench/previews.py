"""Benchmark 8: live previews (issue 12): the first draft, CPU streamed vs plain, a burst.

Ours runs `gemini-3.1-flash-image` (a thinking model) against a Gemini fake that streams like
one: thought text at once, a thought image at each of `Plan.previews_drafts_s` (the first at
2.0 s), the final text and image at `Plan.previews_final_s`. The final image is the 1.5 MB
payload PNG, the thought images PNGs of the same size with other pixels (each image a distinct
file). With `gemini.previews = false`, or for the floor, the same model id answers the plain
`generateContent` after the same latency. The Telegram fake refuses a second edit in a chat
within a second (429 with `retry_after`), as Telegram does. A sendPhoto whose only button is
Stop is a draft; the step's result is the photo with Retry.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from bench.harness import BotKind, BotProcess, ChatAudit, Fakes, Message, bot_process, wait_ready
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary, percentile, ratio
from bot import messages
from tests.fakes.gemini import DEFAULT_TEXT

MODEL = "gemini-3.1-flash-image"
# A chat per step: a step never waits for the status pacing of the one before (1.5 s a chat).
CHAT = 8000
WARMUP_CHAT = 9000
FIRST_BURST_CHAT = 20_000
FIRST_DRAFT_MARGIN_S = 0.3  # target: the first draft <= 0.3 s after the first thought image
CPU_RATIO_TARGET = 1.2
WALL_RATIO_TARGET = 0.6  # the burst budgets of bench/burst.py
CPU_VS_SEQUENTIAL_TARGET = 1.5
STEP_TIMEOUT_S = 60.0
DRAFT = messages.text("draft", "en")  # drafts' captions start with it ("Draft: <line>")
RETRY = messages.text("retry_button", "en")
STOP = messages.text("stop_button", "en")  # a draft's only button
# Sentences of the bot's failure messages (bot/messages.py), lower case: none may reach a user.
ERROR_NEEDLES = (
    "something went wrong",
    "gemini is",
    "gemini did not",
    "gemini refused",
    "gemini rejected",
    "gemini took",
    "try again",
    "stopped.",
    "too many requests",
    "retry after",
)
_BOT_API_SKIP = frozenset({"download"})  # file downloads are counted apart


@dataclass(frozen=True, slots=True)
class Step:
    """One sequential step: its times, the bot's CPU, and the Telegram calls it made."""

    wall_s: float  # update available -> the result's sendPhoto held by the fake
    first_draft_s: float | None  # update available -> the first draft's sendPhoto held
    to_model_s: float | None  # update available -> the Gemini request arrived
    image_to_draft_s: float | None  # the first thought image written -> the draft held
    cpu_s: float  # schedstat, from the update until the bot is idle (drafts deleted)
    calls: Counter[str]  # Bot API calls by method ("download": file downloads)
    answered: bool  # a photo with Retry


@dataclass(slots=True)
class Mode:
    """The sequential steps of one mode (streamed or plain), over its processes."""

    steps: list[Step] = field(default_factory=list)
    coarse_cpu_s: list[float] = field(default_factory=list)  # /proc stat per step, per process


@dataclass(frozen=True, slots=True)
class BurstRun:
    """One burst with previews on (ours) or the plain floor, in one fresh bot process."""

    answered: int  # results as photos (ours: with Retry)
    wall_s: float
    step_latencies_s: list[float]
    first_drafts_s: list[float]
    cpu_per_step_s: float
    peak_rss_kb: int
    rss_before_kb: int
    flood: int  # 429s the bot received
    calls: Counter[str]
    drafts_deleted: bool  # every draft deleted within the wait
    drafts_left: int  # messages still showing Stop
    error_texts: list[str]  # texts shown to users that read like failures
    unexpected: list[str]  # texts that are neither a draft caption nor the result's


def _is_error(text: str) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in ERROR_NEEDLES)


def _read_audit(audits: dict[int, ChatAudit]) -> tuple[int, list[str], list[str]]:
    """(drafts left, error texts, unexpected texts) over the audited chats."""
    left = sum(1 for a in audits.values() for m in a.live if m.buttons == (STOP,))
    shown = [text for a in audits.values() for _method, text in a.shown]
    errors = [t for t in shown if _is_error(t)]
    unexpected = [t for t in shown if not (t.startswith(DRAFT) or t == DEFAULT_TEXT)]
    return left, errors, unexpected


async def step(bot: BotProcess, fakes: Fakes, chat: int) -> Step:
    """Send one photo, wait for the result and for the draft to go, measure."""
    cpu0 = bot.thread_cpu_ns()
    [released] = await fakes.send([Message(chat)])
    complete, answers = await fakes.answers([released.key], STEP_TIMEOUT_S)
    if not complete:
        raise RuntimeError(f"{bot.kind}: no answer to {released.key} within {STEP_TIMEOUT_S}s")
    gone, _ = await fakes.audit([chat], STEP_TIMEOUT_S)
    if not gone:
        raise RuntimeError(f"{bot.kind}: the draft of {released.key} was not deleted")
    await bot.settle()
    cpu1 = bot.thread_cpu_ns()
    answer = answers[released.key]
    draft = (await fakes.drafts([released.key])).get(released.key)
    timeline = await fakes.timeline(released.t_available)
    model = next(iter(timeline["gemini"]), None)
    first_image = model.get("first_image") if model else None
    return Step(
        wall_s=answer.t - released.t_available,
        first_draft_s=draft.t - released.t_available if draft else None,
        to_model_s=model["t_in"] - released.t_available if model else None,
        image_to_draft_s=draft.t - first_image if draft and first_image else None,
        cpu_s=(cpu1 - cpu0) / 1e9,
        calls=Counter(s["method"] for s in timeline["service"]),
        answered=answer.method == "sendPhoto" and (bot.kind == "floor" or RETRY in answer.buttons),
    )


async def _timeline(session: Session, fakes: Fakes) -> None:
    plan = session.plan
    await fakes.set_stream_timeline(plan.previews_drafts_s, plan.previews_final_s)
    await fakes.set_model_latency(plan.previews_final_s)  # plain answers: the same latency


async def sequential(session: Session, streamed: bool) -> tuple[list[Step], float]:
    """One fresh process of ours with previews on or off; (steps, /proc CPU s per step)."""
    plan = session.plan
    work = session.workdir(f"previews-{'streamed' if streamed else 'plain'}")
    async with (
        Fakes.running(session.payloads, work, model=MODEL) as fakes,
        bot_process(
            "ours", fakes, work, model=MODEL, fixes=session.fixes, previews=streamed
        ) as bot,
    ):
        await _timeline(session, fakes)
        await wait_ready(bot, fakes)
        for n in range(plan.previews_warmup):
            await step(bot, fakes, WARMUP_CHAT + n)
        cpu0 = bot.cpu_seconds()
        steps = [await step(bot, fakes, CHAT + n) for n in range(plan.previews_steps)]
        coarse = (bot.cpu_seconds() - cpu0) / plan.previews_steps
    if not all(s.answered for s in steps):
        raise RuntimeError(f"previews: a step was answered without a photo; see {work}")
    drafted = [s for s in steps if s.first_draft_s is not None]
    if drafted and not streamed:
        raise RuntimeError(f"previews off, yet a draft was shown; see {work}")
    return steps, coarse


async def burst(session: Session, kind: BotKind) -> BurstRun:
    """Warm up, then release every chat's update at once; audit what the users saw."""
    plan = session.plan
    work = session.workdir(f"previews-burst-{kind}")
    async with (
        Fakes.running(session.payloads, work, model=MODEL) as fakes,
        bot_process(kind, fakes, work, model=MODEL, fixes=session.fixes) as bot,
    ):
        await _timeline(session, fakes)
        await wait_ready(bot, fakes)
        for n in range(2):
            await step(bot, fakes, WARMUP_CHAT + n)
        rss_before = bot.memory_kb()["VmRSS"]
        cpu0 = bot.cpu_seconds()
        chats = [FIRST_BURST_CHAT + n for n in range(plan.previews_burst_chats)]
        released = await fakes.send([Message(chat) for chat in chats])
        keys = [r.key for r in released]
        _complete, answers = await fakes.answers(keys, timeout=120 + len(chats))
        deleted, audits = await fakes.audit(chats, timeout=60)
        await bot.settle(limit_s=30)
        cpu = bot.cpu_seconds() - cpu0
        peak = bot.memory_kb()["VmHWM"]
        drafts = await fakes.drafts(keys)
        start = min(r.t_available for r in released)
        timeline = await fakes.timeline(start)
    left, errors, unexpected = _read_audit(audits)
    answered = sum(
        1
        for a in answers.values()
        if a.method == "sendPhoto" and (kind == "floor" or RETRY in a.buttons)
    )
    return BurstRun(
        answered=answered,
        wall_s=max(a.t for a in answers.values()) - start if answers else float("nan"),
        step_latencies_s=[answers[r.key].t - r.t_available for r in released if r.key in answers],
        first_drafts_s=[drafts[r.key].t - r.t_available for r in released if r.key in drafts],
        cpu_per_step_s=cpu / len(chats),
        peak_rss_kb=peak,
        rss_before_kb=rss_before,
        flood=len(timeline["flood"]),
        calls=Counter(s["method"] for s in timeline["service"]),
        drafts_deleted=deleted,
        drafts_left=left,
        error_texts=errors,
        unexpected=unexpected,
    )


def _calls_per_step(calls: Counter[str], steps: int) -> str:
    """'sendPhoto 2.0, ...' per step, Bot API calls first, then downloads."""
    api = {m: n for m, n in calls.items() if m not in _BOT_API_SKIP}
    cells = [f"{m} {n / steps:.2g}" for m, n in sorted(api.items())]
    total = sum(api.values()) / steps
    downloads = calls.get("download", 0) / steps
    return f"{total:.3g} ({', '.join(cells)}; file downloads {downloads:.2g})"


def _p50_p95_max(values: list[float], factor: float = 1.0, digits: int = 2) -> list[str]:
    if not values:
        return ["-", "-", "-"]
    return [
        num(percentile(values, 50) * factor, digits),
        num(percentile(values, 95) * factor, digits),
        num(max(values) * factor, digits),
    ]


async def run(session: Session) -> Section:
    """Sequential steps with previews on and off (alternating processes), then the bursts."""
    plan = session.plan
    first_image = plan.previews_drafts_s[0]
    modes = {"streamed": Mode(), "plain": Mode()}
    for run_index in range(plan.previews_runs):
        order = ("streamed", "plain") if run_index % 2 == 0 else ("plain", "streamed")
        for name in order:
            steps, coarse = await sequential(session, streamed=name == "streamed")
            modes[name].steps += steps
            modes[name].coarse_cpu_s.append(coarse)
    bursts: dict[str, list[BurstRun]] = {"ours": [], "floor": []}
    for run_index in range(plan.previews_burst_runs):
        kinds: tuple[BotKind, BotKind] = (
            ("ours", "floor") if run_index % 2 == 0 else ("floor", "ours")
        )
        for bot_kind in kinds:
            bursts[bot_kind].append(await burst(session, bot_kind))

    streamed, plain = modes["streamed"].steps, modes["plain"].steps
    first = [s.first_draft_s for s in streamed if s.first_draft_s is not None]
    to_model = [s.to_model_s for s in streamed if s.to_model_s is not None]
    image_to_draft = [s.image_to_draft_s for s in streamed if s.image_to_draft_s is not None]
    overhead = [f - first_image for f in first]
    latency_table = Table(
        ("first draft", "p50", "p95", "max"),
        [
            ["update -> first draft held by the fake (s)", *_p50_p95_max(first)],
            [
                f"the same minus the first image's {first_image:g} s (ms)",
                *_p50_p95_max(overhead, 1000, 0),
            ],
            ["part: update -> Gemini request arrives (ms)", *_p50_p95_max(to_model, 1000, 0)],
            [
                "part: first thought image written -> draft held (ms)",
                *_p50_p95_max(image_to_draft, 1000, 0),
            ],
        ],
        f"**First draft latency.** {len(first)} of {len(streamed)} streamed steps showed a "
        f"draft ({plan.previews_runs} processes x {plan.previews_steps} steps after "
        f"{plan.previews_warmup} warm-up steps, one at a time, each in a chat of its own); the "
        f"first thought image is written {first_image:g} s after the request was read.",
    )

    mean_cpu = {k: statistics.fmean(s.cpu_s for s in m.steps) for k, m in modes.items()}
    cpu_ratio = ratio(mean_cpu["streamed"], mean_cpu["plain"])
    calls = {k: sum((s.calls for s in m.steps), Counter()) for k, m in modes.items()}
    cpu_rows = []
    for name, mode in modes.items():
        cpu_rows.append(
            [
                name,
                num(mean_cpu[name] * 1000),
                num(statistics.median(s.cpu_s for s in mode.steps) * 1000),
                num(percentile([s.cpu_s for s in mode.steps], 95) * 1000),
                num(statistics.fmean(mode.coarse_cpu_s) * 1000),
                num(statistics.median(s.wall_s for s in mode.steps), 2),
                _calls_per_step(calls[name], len(mode.steps)),
            ]
        )
    cpu_table = Table(
        (
            "ours, model `" + MODEL + "`",
            "CPU per step, mean (ms)",
            "median (ms)",
            "p95 (ms)",
            "/proc stat (ms)",
            "wall per step, median (s)",
            "Telegram calls per step",
        ),
        cpu_rows,
        f"**CPU per step, streamed vs plain.** Previews on (`streamGenerateContent`, drafts) "
        f"against previews off (`generateContent`, the answer after the same "
        f"{plan.previews_final_s:g} s), {len(streamed)} and {len(plain)} steps, processes "
        "alternating. CPU from schedstat over each step until the bot is idle and its draft "
        "deleted; 'Telegram calls' are the Bot API requests the fake served (getUpdates not "
        f"counted). Streamed / plain: **{num(cpu_ratio, 2)} x** (means).",
    )

    burst_rows = []
    for kind, found in bursts.items():
        label = "ours, previews on" if kind == "ours" else "floor (plain)"
        rows = [
            ("wall until all answered (s)", [r.wall_s for r in found], 1, 2),
            ("CPU per step (ms)", [r.cpu_per_step_s for r in found], 1000, 1),
            ("peak RSS, VmHWM (MB)", [r.peak_rss_kb / 1024 for r in found], 1, 0),
            ("RSS before the burst (MB)", [r.rss_before_kb / 1024 for r in found], 1, 0),
            (
                "one step's wall, all runs (s)",
                [x for r in found for x in r.step_latencies_s],
                1,
                2,
            ),
        ]
        if kind == "ours":
            drafts = [x for r in found for x in r.first_drafts_s]
            rows.append(("update -> first draft, all runs (s)", drafts, 1, 2))
        for measure, values, factor, digits in rows:
            burst_rows.append([label, measure, *summary_cells(Summary.of(values), factor, digits)])
    ours = bursts["ours"]
    chats = plan.previews_burst_chats
    burst_table = Table(
        ("bot", "measure", *SUMMARY_HEADER),
        burst_rows,
        f"**{chats}-chat burst with previews on.** {plan.previews_burst_runs} bursts per bot; "
        "all updates available at one instant, two sequential warm-up steps before; ours "
        f"streams (drafts at {', '.join(f'{t:g}' for t in plan.previews_drafts_s)} s), the floor "
        f"gets the plain answer at {plan.previews_final_s:g} s.",
    )

    wall = {k: statistics.median(r.wall_s for r in v) for k, v in bursts.items()}
    peak = {k: statistics.median(r.peak_rss_kb for r in v) for k, v in bursts.items()}
    cpu = {k: statistics.median(r.cpu_per_step_s for r in v) for k, v in bursts.items()}
    flood = [r.flood for r in ours]
    errors = [t for r in ours for t in r.error_texts]
    unexpected = [t for r in ours for t in r.unexpected]
    left = [r.drafts_left for r in ours]
    session.shared["previews"] = {"streamed_cpu_s": mean_cpu["streamed"], "burst_cpu_s": cpu}

    section = Section(
        "8. Live previews (issue 12): first draft, CPU streamed vs plain, burst",
        f"Ours on `{MODEL}` (a thinking model) against a Gemini fake that streams as one "
        "does: thought text at once, a thought image at "
        f"{' and '.join(f'{t:g} s' for t in plan.previews_drafts_s)}, the final text and image "
        f"at {plan.previews_final_s:g} s (after the request was read), with signatures. The "
        "result is the 1.5 MB payload PNG, the thought images PNGs of its size with other "
        "pixels (a draft like the one before is not shown again); every image is a distinct "
        "file. The Telegram fake refuses a second edit in a chat within a second (429 with "
        "`retry_after`), as Telegram does. "
        "A draft is a sendPhoto whose only button is Stop; the step's result is the photo "
        "with Retry.",
        [latency_table, cpu_table, burst_table],
    )
    p95 = percentile(first, 95)
    target = first_image + FIRST_DRAFT_MARGIN_S
    section.checks += [
        Check(
            "Previews: first draft",
            f"p95 <= {target:g} s (first image at {first_image:g} s)",
            f"p95 {num(p95, 2)} s (p50 {num(percentile(first, 50), 2)}, max "
            f"{num(max(first, default=float('nan')), 2)}; {len(first)}/{len(streamed)} steps "
            "drafted)",
            p95 <= target and len(first) == len(streamed),
        ),
        Check(
            "Previews: CPU per step, streamed vs plain",
            f"<= {CPU_RATIO_TARGET:g} x",
            f"{num(cpu_ratio, 2)} x ({num(mean_cpu['streamed'] * 1000)} vs "
            f"{num(mean_cpu['plain'] * 1000)} ms)",
            cpu_ratio <= CPU_RATIO_TARGET,
        ),
        Check(
            "Previews burst: all answered",
            f"{chats}/{chats} results with Retry",
            ", ".join(f"{r.answered}/{chats}" for r in ours),
            all(r.answered == chats for r in ours),
        ),
        Check(
            "Previews burst: no error reaches a user",
            "0 error texts, 0 drafts left",
            f"{len(errors)} error texts, {sum(left)} drafts left; 429s absorbed: "
            + ", ".join(str(n) for n in flood),
            not errors and not any(left) and all(r.drafts_deleted for r in ours),
        ),
        Check(
            "Previews burst wall",
            f"<= {WALL_RATIO_TARGET:g} x floor",
            f"{num(ratio(wall['ours'], wall['floor']), 2)} x ({num(wall['ours'], 2)} vs "
            f"{num(wall['floor'], 2)} s)",
            ratio(wall["ours"], wall["floor"]) <= WALL_RATIO_TARGET,
        ),
        Check(
            "Previews burst peak RSS",
            "<= floor",
            f"{num(peak['ours'] / 1024, 0)} vs {num(peak['floor'] / 1024, 0)} MB",
            peak["ours"] <= peak["floor"],
        ),
        Check(
            "Previews burst CPU per step",
            f"<= {CPU_VS_SEQUENTIAL_TARGET:g} x our streamed sequential",
            f"{num(ratio(cpu['ours'], mean_cpu['streamed']), 2)} x ({num(cpu['ours'] * 1000)} "
            f"vs {num(mean_cpu['streamed'] * 1000)} ms; floor {num(cpu['floor'] * 1000)} ms)",
            ratio(cpu["ours"], mean_cpu["streamed"]) <= CPU_VS_SEQUENTIAL_TARGET,
        ),
    ]
    burst_calls = sum((r.calls for r in ours), Counter())
    section.notes.append(
        "Burst, ours, per run: Telegram 429s received "
        + ", ".join(str(n) for n in flood)
        + "; drafts left showing Stop "
        + ", ".join(str(n) for n in left)
        + f"; texts shown to users that read like a failure: {len(errors)}"
        + (f" (e.g. {errors[0]!r})" if errors else "")
        + f"; other texts that are neither a draft's caption nor the result's: {len(unexpected)}"
        + (f" (e.g. {unexpected[0]!r})" if unexpected else "")
        + ". Telegram calls per chat: "
        + _calls_per_step(burst_calls, chats * len(ours))
        + ". Answered, per run: "
        + "; ".join(
            f"{kind} " + ", ".join(f"{r.answered}/{chats}" for r in found)
            for kind, found in bursts.items()
        )
        + "."
    )
    return section

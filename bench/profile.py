"""Profile a bot process with py-spy during one benchmark scenario and summarize where CPU goes.

`python -m bench.profile sequential|burst|lag|growth|previews|previews-plain [--bot ours|floor]
[--steps N]` starts the fakes and the bot as the benchmarks do, attaches `py-spy record` (native
frames, raw collapsed stacks) for the measured part only, and prints the top functions
(inclusive and self) and the share per component (the package of the deepest Python frame).
`previews` and `previews-plain` are benchmark 8's sequential steps with previews on and off.
The raw stacks are kept under bench/out/profiles/ for flame graphs. py-spy is a dev tool:
`pip install py-spy` into the venv.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench import previews
from bench.harness import BotKind, BotProcess, Fakes, Message, bot_process, wait_ready
from bench.report import Table
from bench.session import BENCH_DIR, Session
from bench.steps import one_step

RATE_HZ = 250
# A sample whose stack holds one of these is a thread waiting, not working. py-spy's own idle
# filter does not see through native frames on this kernel, so the summary drops them itself.
_WAITING = (
    "PyThread_acquire_lock_timed",
    "epoll_wait",
    "pthread_cond_wait",
    "pthread_cond_timedwait",
    "sem_clockwait",
    "sem_timedwait",
    "sem_wait",
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+?)(?::\d+)?\)$")
# Path fragment -> component; the deepest Python frame decides (first match in this order).
COMPONENTS = (
    ("/bench/", "bench (tracing)"),
    ("/bot/", "bot/ (ours)"),
    ("/adapters/", "adapters/ (ours)"),
    ("google/genai", "google-genai"),
    ("pydantic", "pydantic"),
    ("httpcore", "httpcore"),
    ("httpx", "httpx"),
    ("h11", "h11"),
    ("telegram/", "python-telegram-bot"),
    ("aiohttp", "aiohttp"),
    ("sqlite3", "sqlite3"),
    ("PIL/", "Pillow"),
    ("json/", "json"),
    ("base64", "base64"),
    ("hashlib", "hashlib"),
    ("asyncio/", "asyncio"),
    ("logging/", "logging"),
    ("concurrent/", "thread pool"),
    ("threading", "threading"),
    ("ssl", "ssl"),
)


def _parse(line: str) -> tuple[list[tuple[str, str]], int] | None:
    stack, _, count = line.rstrip().rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = []
    for raw in stack.split(";")[1:]:  # the first entry is the thread
        match = _FRAME.match(raw)
        if match:
            frames.append((match["func"], match["file"]))
        else:
            frames.append((raw, ""))
    return frames, int(count)


def _component(frames: list[tuple[str, str]]) -> str:
    for _func, file in reversed(frames):
        if not file.endswith(".py"):
            continue
        for fragment, name in COMPONENTS:
            if fragment in "/" + file:
                return name
        return file.rsplit("/", 1)[-1]
    return "native only"


def summarize(raw: Path, top: int = 25) -> str:
    """Markdown: components, then the top functions by inclusive and by self samples."""
    inclusive: Counter[str] = Counter()
    self_py: Counter[str] = Counter()
    components: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        parsed = _parse(line)
        if parsed is None:
            continue
        frames, count = parsed
        if any(func.startswith(_WAITING) for func, _file in frames):
            idle += count
            continue
        total += count
        components[_component(frames)] += count
        seen = set()
        for func, file in frames:
            key = f"{func} ({_short(file)})" if file else func
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
        python = [f for f in frames if f[1].endswith(".py")]
        if python:
            func, file = python[-1]
            self_py[f"{func} ({_short(file)})"] += count
    if not total:
        return "no samples"

    def pct(count: int) -> str:
        return f"{100 * count / total:.1f}"

    parts = [
        f"{total} busy samples at {RATE_HZ} Hz (all threads; {idle} waiting samples left out).",
        "",
        Table(
            ("component (deepest Python frame)", "% of samples"),
            [(name, pct(count)) for name, count in components.most_common(15)],
        ).markdown(),
        "",
        Table(
            ("function (inclusive)", "%"),
            [(name, pct(count)) for name, count in inclusive.most_common(top)],
        ).markdown(),
        "",
        Table(
            ("deepest Python function (self + native below it)", "%"),
            [(name, pct(count)) for name, count in self_py.most_common(top)],
        ).markdown(),
    ]
    return "\n".join(parts)


def _short(file: str) -> str:
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


@asynccontextmanager
async def py_spy(pid: int, output: Path) -> AsyncIterator[None]:
    """Sample `pid` while the block runs."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--native",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)


async def _scenario(name: str, session: Session, kind: BotKind, steps: int, raw: Path) -> None:
    """Start fakes and bot like the benchmark does; sample only the measured part."""
    work = session.workdir(f"profile-{name}-{kind}")
    model = {
        "growth": "gemini-3-pro-image-preview",
        "previews": previews.MODEL,
        "previews-plain": previews.MODEL,
    }.get(name, "gemini-2.5-flash-image")
    bot_kind: BotKind = "traced" if name == "lag" else kind
    async with (
        Fakes.running(session.payloads, work, model=model) as fakes,
        bot_process(
            bot_kind,
            fakes,
            work,
            model=model,
            fixes=session.fixes,
            previews=name != "previews-plain",
        ) as bot,
    ):
        if name.startswith("previews"):
            plan = session.plan
            await fakes.set_stream_timeline(plan.previews_drafts_s, plan.previews_final_s)
            await fakes.set_model_latency(plan.previews_final_s)
        await wait_ready(bot, fakes)
        for n in range(3):
            if name.startswith("previews"):
                await previews.step(bot, fakes, 1 + n)  # a chat per step, as the benchmark
            else:
                await one_step(bot, fakes, Message(1))
        async with py_spy(bot.pid, raw):
            await _drive(name, bot, fakes, session, steps)


async def _drive(name: str, bot: BotProcess, fakes: Fakes, session: Session, steps: int) -> None:
    if name == "sequential":
        for _ in range(steps):
            await one_step(bot, fakes, Message(2))
    elif name == "burst":
        await fakes.set_model_latency(session.plan.burst_latency_s)
        released = await fakes.send([Message(10_000 + n) for n in range(session.plan.burst_chats)])
        await fakes.answers([r.key for r in released], timeout=300)
    elif name == "lag":
        messages = [
            Message(
                100 + n,
                payload="big_jpeg" if n % 2 == 0 else "big_png",
                document=True,
                caption="make it warmer",
            )
            for n in range(session.plan.lag_images)
        ]
        released = await fakes.send(messages)
        await fakes.answers([r.key for r in released], timeout=180)
    elif name.startswith("previews"):
        for n in range(steps):
            await previews.step(bot, fakes, 100 + n)
    elif name == "growth":
        last = await one_step(bot, fakes, Message(3))
        for turn in range(2, 12):
            text = f"edit {turn}"
            last = await one_step(
                bot,
                fakes,
                Message(3, payload=None, text=text, reply_to=last.answer_message_id),
            )


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(
        "scenario",
        choices=("sequential", "burst", "lag", "growth", "previews", "previews-plain"),
    )
    parser.add_argument("--bot", choices=("ours", "floor"), default="ours")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--whatif", default="", help="fix prototypes for ours (bench/whatif.py)")
    args = parser.parse_args()
    session = Session.create(quick=False, fixes=args.whatif)
    out = BENCH_DIR / "out" / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.whatif.replace(',', '+')}" if args.whatif else ""
    raw = out / f"{args.scenario}-{args.bot}{suffix}.txt"
    try:
        asyncio.run(_scenario(args.scenario, session, args.bot, args.steps, raw))
    finally:
        session.cleanup()
    print(f"# profile: {args.scenario}, {args.bot} (raw stacks: {raw})\n")
    print(summarize(raw))


if __name__ == "__main__":
    main()

"""Our bot with timestamps: `python -m bench.traced_bot run --config PATH`, the `bananabot` CLI.

In this process only, the functions one step goes through are wrapped to record wall time
(CLOCK_MONOTONIC, which the fakes' process shares) and process CPU time at entry and exit, per
step (a context variable set when the Telegram handler starts; tasks and `to_thread` inherit
it). Nothing in bot/ or adapters/ changes. Each wrapper costs ~2 us, against a step of tens of
milliseconds; the bench also compares this process's totals with the untraced `python -m bot`.
With BENCH_LAG=1 an event-loop lag probe runs too. The trace goes to BENCH_TRACE (JSON) when
the bot stops; without BENCH_TRACE nothing is wrapped (used for `--whatif` runs of "ours").
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import adapters.telegram.adapter as telegram_adapter
import adapters.telegram.outbox as telegram_outbox
import bot.app
import bot.cli
import bot.intake
import bot.model
from bot.request import ImageSource
from bot.store.sqlite import SqliteStore

P = ParamSpec("P")
R = TypeVar("R")

LAG_PERIOD_S = 0.005
# Store methods a step can call; each is timed as store_in before the model answered, else
# store_out.
STORE_METHODS = (
    "chat_settings",
    "resolve_link",
    "get_turn",
    "latest_answer",
    "chat_latest",
    "lineage_chat",
    "put_image",
    "read_image",
    "add_user_turn",
    "add_model_turn",
    "set_status",
    "path",
    "link",
    "usage_since",
    "pool_usage_since",
)


@dataclasses.dataclass(slots=True)
class StepTrace:
    """What one incoming message cost, interval by interval."""

    chat: int
    message_id: int
    t_handler: float
    cpu_handler: float
    t_done: float = 0.0
    cpu_done: float = 0.0
    model_done: bool = False
    # (id, parent id, phase, t0, t1, cpu0, cpu1); parent 0 is the handler itself
    intervals: list[tuple[int, int, str, float, float, float, float]] = dataclasses.field(
        default_factory=list
    )


_step: ContextVar[StepTrace | None] = ContextVar("bench_step", default=None)
_parent: ContextVar[int] = ContextVar("bench_parent", default=0)
_ids = itertools.count(1)
_steps: list[StepTrace] = []
_lag: list[tuple[float, float]] = []


def _phase(name: str, step: StepTrace) -> str:
    if name == "store":
        return "store_out" if step.model_done else "store_in"
    return name


def timed(name: str, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a coroutine function to record one interval of the current step."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        step = _step.get()
        if step is None:
            return await fn(*args, **kwargs)
        interval = next(_ids)
        parent = _parent.get()
        token = _parent.set(interval)
        phase = _phase(name, step)
        t0, c0 = time.monotonic(), time.process_time()
        try:
            return await fn(*args, **kwargs)
        finally:
            t1, c1 = time.monotonic(), time.process_time()
            step.intervals.append((interval, parent, phase, t0, t1, c0, c1))
            _parent.reset(token)
            if name == "model_call":
                step.model_done = True

    return wrapper


def timed_sync(name: str, fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a plain function (on the loop or in a worker thread) the same way."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        step = _step.get()
        if step is None:
            return fn(*args, **kwargs)
        interval = next(_ids)
        parent = _parent.get()
        token = _parent.set(interval)
        t0, c0 = time.monotonic(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            t1, c1 = time.monotonic(), time.process_time()
            step.intervals.append((interval, parent, name, t0, t1, c0, c1))
            _parent.reset(token)

    return wrapper


def _wrap(owner: object, name: str, phase: str, *, sync: bool = False) -> None:
    """Replace `owner.name` with its timed version."""
    original = getattr(owner, name)
    setattr(owner, name, timed_sync(phase, original) if sync else timed(phase, original))


def install() -> None:
    """Patch the step's functions in this process."""
    adapter_cls = telegram_adapter.TelegramAdapter
    on_message = adapter_cls._on_message

    @functools.wraps(on_message)
    async def traced_on_message(self: Any, update: Any, context: Any) -> None:
        message = update.message
        if message is None:
            return await on_message(self, update, context)
        step = StepTrace(
            message.chat.id, message.message_id, time.monotonic(), time.process_time()
        )
        _steps.append(step)
        token = _step.set(step)
        try:
            await on_message(self, update, context)
        finally:
            step.t_done, step.cpu_done = time.monotonic(), time.process_time()
            _step.reset(token)

    source = adapter_cls._source

    @functools.wraps(source)
    def traced_source(self: Any, image: Any) -> ImageSource:
        found = source(self, image)
        return dataclasses.replace(found, fetch=timed("download", found.fetch))

    # setattr: these are monkeypatches of other modules' names, on purpose.
    setattr(adapter_cls, "_on_message", traced_on_message)  # noqa: B010
    setattr(adapter_cls, "_source", traced_source)  # noqa: B010
    _wrap(bot.intake, "prepare_image", "validate")
    for name in STORE_METHODS:
        if hasattr(SqliteStore, name):  # the store evolves; a renamed method just goes untimed
            _wrap(SqliteStore, name, "store")
    _wrap(bot.model.GeminiImageModel, "_build_contents", "request_build")
    _wrap(bot.model.GeminiImageModel, "_generate_once", "model_call")
    _wrap(bot.model, "parse_response", "response_parse", sync=True)
    _wrap(telegram_outbox.TelegramOutbox, "deliver", "upload")
    _wrap(telegram_outbox, "photo_preview", "upload_preview", sync=True)

    run_bot = bot.app.run_bot

    @functools.wraps(run_bot)
    async def traced_run_bot(settings: Any, *args: Any, **kwargs: Any) -> None:
        probe = asyncio.create_task(_lag_probe()) if os.environ.get("BENCH_LAG") else None
        try:
            await run_bot(settings, *args, **kwargs)
        finally:
            if probe is not None:
                probe.cancel()
            _write_trace()

    bot.app.run_bot = traced_run_bot


async def _lag_probe() -> None:
    """Sleep 5 ms again and again; record how late each wake-up was."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(LAG_PERIOD_S)
        now = loop.time()
        _lag.append((now, now - start - LAG_PERIOD_S))


def _write_trace() -> None:
    target = os.environ.get("BENCH_TRACE")
    if not target:
        return
    data = {"steps": [dataclasses.asdict(s) for s in _steps], "lag": _lag}
    Path(target).write_text(json.dumps(data))


def main() -> None:
    """Same arguments as `python -m bot`; BENCH_WHATIF applies fix prototypes first."""
    fixes = os.environ.get("BENCH_WHATIF", "")
    if fixes:
        from bench import whatif  # noqa: PLC0415 - only experiments pay for it

        whatif.apply(fixes)
    if os.environ.get("BENCH_TRACE"):
        install()
    sys.exit(bot.cli.main(sys.argv[1:]))


if __name__ == "__main__":
    main()

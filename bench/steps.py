"""Measure editing steps: wall time minus the fakes' own time, the bot's CPU, the breakdown.

A step starts when its update becomes available (queued in the Telegram fake, with a long poll
waiting) and ends when the fake holds the bot's whole sendPhoto request. The fakes' own time on
that path is subtracted: answering the long poll, getFile, the file download and
generateContent (from its body being read to its answer, model latency included). What is left
is the bot's overhead: its CPU plus its waits on its own threads and sockets.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Answer, BotProcess, Fakes, Message, Released

# Phases of one step in the order they happen (see bench/traced_bot.py for what each wraps).
PHASES = (
    ("receive", "update available -> our handler runs (getUpdates answer, PTB dispatch)"),
    ("download", "getFile + file download (ImageSource.fetch)"),
    ("validate", "bot.images.prepare_image (probe, full decode check; in a thread)"),
    ("store_in", "store calls before the model: settings, links, image file, user turn, path"),
    ("request_build", "GeminiImageModel._build_contents (Part objects from stored turns)"),
    ("model_call", "SDK generate_content: serialize, HTTP, decode (minus the fake's time)"),
    ("response_parse", "bot.model.parse_response (parts dumped to JSON for the store)"),
    ("store_out", "store calls after the model: result image file, model turn"),
    ("upload_preview", "photo_preview: sendPhoto size checks (Pillow header, in a thread)"),
    ("upload", "TelegramOutbox.deliver until the fake holds the sendPhoto request"),
    ("other", "the rest: adapter and engine glue, chat action, logging, event-loop waits"),
)
_FAKE_METHODS = frozenset({"getFile", "download"})


@dataclass(slots=True)
class StepSample:
    """One measured step."""

    chat: int
    message_id: int
    t_available: float
    t_end: float
    answer_method: str
    answer_message_id: int
    fake_s: float  # the fakes' own time on the step's path
    fake_poll_s: float
    fake_download_s: float
    fake_model_s: float
    cpu_s: float  # the bot's CPU over the step (settled)
    request_bytes: int = 0
    request_images: int = 0
    phases_wall: dict[str, float] = field(default_factory=dict)
    phases_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return self.t_end - self.t_available

    @property
    def overhead_s(self) -> float:
        return self.wall_s - self.fake_s


def fake_time(
    timeline: dict[str, Any], released: Released, t_end: float
) -> tuple[float, float, float, int, int]:
    """The fakes' own time inside one step's window: (poll, download, model, bytes, images).

    Only valid while one step runs at a time (sequential and growth benchmarks).
    """
    poll = 0.0
    for record in timeline["polls"]:
        if released.update_id in record["updates"]:
            poll = record["t_out"] - max(record["t_in"], released.t_available)
            break
    download = sum(
        s["t_out"] - s["t_in"]
        for s in timeline["service"]
        if s["method"] in _FAKE_METHODS and released.t_available <= s["t_in"] <= t_end
    )
    model = 0.0
    request_bytes = request_images = 0
    for record in timeline["gemini"]:
        if released.t_available <= record["t_in"] <= t_end:
            model += record["t_out"] - record["t_read"]
            request_bytes += record["bytes"]
            request_images += record["images"]
    return poll, download, model, request_bytes, request_images


async def one_step(
    bot: BotProcess,
    fakes: Fakes,
    message: Message,
    timeout: float = 60,  # noqa: ASYNC109
) -> StepSample:
    """Send one message, wait for the reply and for the bot to go idle, measure."""
    cpu0 = bot.thread_cpu_ns()
    [released] = await fakes.send([message])
    complete, answers = await fakes.answers([released.key], timeout)
    if not complete:
        raise RuntimeError(f"{bot.kind}: no answer to {released.key} within {timeout}s")
    answer: Answer = answers[released.key]
    await bot.settle()
    cpu1 = bot.thread_cpu_ns()
    timeline = await fakes.timeline(released.t_available)
    poll, download, model, size, images = fake_time(timeline, released, answer.t)
    return StepSample(
        chat=released.chat,
        message_id=released.message_id,
        t_available=released.t_available,
        t_end=answer.t,
        answer_method=answer.method,
        answer_message_id=answer.message_id,
        fake_s=poll + download + model,
        fake_poll_s=poll,
        fake_download_s=download,
        fake_model_s=model,
        cpu_s=(cpu1 - cpu0) / 1e9,
        request_bytes=size,
        request_images=images,
    )


def load_trace(path: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """The traced bot's steps by (chat, message id)."""
    data = json.loads(path.read_text())
    return {(s["chat"], s["message_id"]): s for s in data["steps"]}


def load_lag(path: Path) -> list[tuple[float, float]]:
    """The traced bot's lag probe samples: (time, lateness in seconds)."""
    return [(t, lag) for t, lag in json.loads(path.read_text())["lag"]]


def attach_breakdown(sample: StepSample, trace: dict[str, Any]) -> None:
    """Split the step's overhead into phases (wall clipped at the step's end; CPU whole)."""
    intervals = trace["intervals"]
    end = sample.t_end
    children: dict[int, list[Sequence[Any]]] = defaultdict(list)
    for interval in intervals:
        children[interval[1]].append(interval)

    def clipped(interval: Sequence[Any]) -> float:
        return max(0.0, min(float(interval[4]), end) - min(float(interval[3]), end))

    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    for interval in intervals:
        own_id, phase = interval[0], interval[2]
        kids = children.get(own_id, [])
        wall[phase] += clipped(interval) - sum(clipped(k) for k in kids)
        cpu[phase] += (interval[6] - interval[5]) - sum(k[6] - k[5] for k in kids)
    # The upload ends when the fake holds the request, after the wrapped call began.
    uploads = [i for i in intervals if i[2] == "upload"]
    if uploads:
        start = min(i[3] for i in uploads)
        preview = sum(clipped(k) for i in uploads for k in children.get(i[0], []))
        wall["upload"] = max(0.0, end - start) - preview
    wall["receive"] = trace["t_handler"] - sample.t_available - sample.fake_poll_s
    wall["download"] -= sample.fake_download_s
    wall["model_call"] -= sample.fake_model_s
    wall["other"] = sample.overhead_s - sum(v for k, v in wall.items() if k != "other")
    cpu["other"] = sample.cpu_s - sum(v for k, v in cpu.items() if k != "other")
    sample.phases_wall = dict(wall)
    sample.phases_cpu = dict(cpu)

"""Start the fakes and the bots as separate processes and talk to the fakes' control endpoint.

Three processes per run: the fakes (`bench.fakes_server`), the bot under test (ours as
`python -m bot run`, traced as `python -m bench.traced_bot run`, or `bench.floor_bot`), and this
driver, which mostly waits on the control endpoint. Only the bot's CPU is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp

from bench import procinfo
from bench.payloads import Payloads

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "gemini-2.5-flash-image"
BotKind = Literal["ours", "traced", "floor"]
ConfigValue = str | int | float | bool
ConfigOverrides = Mapping[str, Mapping[str, ConfigValue]]  # section -> key -> value
# Scrubbed from the bots' environment: they would override the config or start Discord.
_FOREIGN_ENV = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "TELEGRAM_BOT_TOKEN",
    "DISCORD_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "BANANABOT_DATA_DIR",
    "BANANABOT_DATABASE_URL",
    "BENCH_TRACE",
    "BENCH_LAG",
    "BENCH_WHATIF",
)


@dataclass(frozen=True, slots=True)
class Released:
    """A user message the fakes queued as an update."""

    chat: int
    message_id: int
    update_id: int
    t_available: float

    @property
    def key(self) -> tuple[int, int]:
        return (self.chat, self.message_id)


@dataclass(frozen=True, slots=True)
class Answer:
    """The bot's reply to a user message, as the fake received it."""

    method: str
    t: float  # when the fake held the whole request
    chat: int
    reply_to: int
    message_id: int
    buttons: tuple[str, ...] = ()  # labels of its inline keyboard

    @classmethod
    def of(cls, record: dict[str, Any]) -> Answer:
        return cls(**{**record, "buttons": tuple(record.get("buttons", ()))})


@dataclass(frozen=True, slots=True)
class LeftMessage:
    """A message the bot left in a chat (not deleted), as the fake holds it now."""

    message_id: int
    photo: bool
    text: str
    buttons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChatAudit:
    """What the bot left in one chat, and every text or caption it showed there."""

    live: tuple[LeftMessage, ...]
    shown: tuple[tuple[str, str], ...]  # (method, text), in order


@dataclass(frozen=True, slots=True)
class Message:
    """One message for the fakes to send on a user's behalf."""

    chat: int
    payload: str | None = "photo"  # a Payloads field, or None for a text message
    caption: str | None = "make the sky purple"
    text: str | None = None
    reply_to: int | None = None
    document: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "chat": self.chat,
            "payload": self.payload,
            "caption": self.caption if self.payload else None,
            "text": self.text,
            "reply_to": self.reply_to,
            "document": self.document,
        }


class Fakes:
    """The fakes' process, driven through its control endpoint."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        info: dict[str, str],
        http: aiohttp.ClientSession,
    ) -> None:
        self.process = process
        self.info = info
        self._http = http
        self._control = info["control"]

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, payloads: Payloads, logs: Path, model: str = DEFAULT_MODEL, *, webhook: bool = False
    ) -> AsyncIterator[Fakes]:
        """Start the fakes; stop them (closing their stdin) on exit.

        `webhook`: the Telegram fake POSTs updates to the URL the bots set (see `wait_webhooks`).
        """
        with (logs / "fakes.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.fakes_server",
                json.dumps(payloads.as_dict()),
                model,
                *(["webhook"] if webhook else []),
                cwd=REPO,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            if not line:
                raise RuntimeError(f"the fakes did not start; see {logs / 'fakes.log'}")
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                yield cls(process, json.loads(line), http)
        finally:
            await _end(process, close_stdin=True)

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        async with self._http.post(self._control + path, json=body) as response:
            response.raise_for_status()
            return await response.json()

    async def send(self, messages: Sequence[Message]) -> list[Released]:
        """Create the messages, then make them available to getUpdates at one instant."""
        reply = await self._post("/send", {"items": [m.as_json() for m in messages]})
        return [Released(**item) for item in reply["items"]]

    async def answers(
        self,
        keys: Sequence[tuple[int, int]],
        timeout: float,  # noqa: ASYNC109 - the wait is bounded by the fake
    ) -> tuple[bool, dict[tuple[int, int], Answer]]:
        """Wait until every (chat, message id) has a reply; (complete, replies)."""
        reply = await self._post("/answers", {"keys": list(keys), "timeout": timeout})
        found = {(a["chat"], a["reply_to"]): Answer.of(a) for a in reply["answers"]}
        return bool(reply["complete"]), found

    async def drafts(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Answer]:
        """The first draft (a photo whose only button is Stop) each message got, if any."""
        reply = await self._post("/drafts", {"keys": list(keys)})
        return {(a["chat"], a["reply_to"]): Answer.of(a) for a in reply["drafts"]}

    async def audit(
        self,
        chats: Sequence[int],
        timeout: float,  # noqa: ASYNC109 - the wait is bounded by the fake
    ) -> tuple[bool, dict[int, ChatAudit]]:
        """Wait until every draft in `chats` is deleted; (complete, what each chat holds)."""
        reply = await self._post("/audit", {"chats": list(chats), "timeout": timeout})
        found = {
            int(chat): ChatAudit(
                tuple(
                    LeftMessage(m["message_id"], m["photo"], m["text"], tuple(m["buttons"]))
                    for m in held["live"]
                ),
                tuple((method, text) for method, text in held["shown"]),
            )
            for chat, held in reply["chats"].items()
        }
        return bool(reply["complete"]), found

    async def first_poll(
        self,
        since: float,
        timeout: float,  # noqa: ASYNC109 - the wait is bounded by the fake
        *,
        method: str = "getUpdates",
        count: int = 1,
    ) -> float | None:
        """When the `count`-th call of `method` (the first getUpdates) at or after `since`
        arrived."""
        body = {"since": since, "timeout": timeout, "method": method, "count": count}
        reply = await self._post("/first_poll", body)
        return None if reply["t"] is None else float(reply["t"])

    async def set_model_latency(self, seconds: float) -> None:
        await self._post("/gemini", {"latency": seconds})

    async def set_stream_timeline(self, drafts: Sequence[float], final: float) -> None:
        """Streams think visibly: thought images at `drafts`, the answer at `final` (s)."""
        await self._post("/gemini", {"drafts": list(drafts), "final": final})

    async def timeline(self, since: float) -> dict[str, Any]:
        """Everything the fakes timed since `since`."""
        async with self._http.get(self._control + f"/timeline?since={since}") as response:
            response.raise_for_status()
            return dict(await response.json())


class BotProcess:
    """A bot under test in its own process."""

    def __init__(self, kind: BotKind, process: asyncio.subprocess.Process, t_spawn: float):
        self.kind = kind
        self.process = process
        self.t_spawn = t_spawn

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return procinfo.cpu_seconds(self.pid)

    def thread_cpu_ns(self) -> int:
        return procinfo.thread_cpu_ns(self.pid)

    def memory_kb(self) -> dict[str, int]:
        return procinfo.memory_kb(self.pid)

    async def settle(self, quiet_s: float = 0.03, limit_s: float = 5.0) -> None:
        """Return once the bot used < 0.2 ms of CPU over `quiet_s` (bounded by `limit_s`).

        A step's tail (linking the posted message, closing the chat action) runs after the fake
        got the photo; the next step starts only when the bot is idle again.
        """
        deadline = time.monotonic() + limit_s
        last, since = self.thread_cpu_ns(), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            now = self.thread_cpu_ns()
            if now - last > 200_000:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return

    async def stop(self) -> int | None:
        """SIGTERM, then wait (bounded); SIGKILL if it hangs."""
        return await _end(self.process, close_stdin=False)


@contextlib.asynccontextmanager
async def bot_process(
    kind: BotKind,
    fakes: Fakes,
    workdir: Path,
    *,
    model: str = DEFAULT_MODEL,
    lag_probe: bool = False,
    fixes: str = "",
    previews: bool = True,
    config: ConfigOverrides | None = None,
) -> AsyncIterator[BotProcess]:
    """Start a bot pointed at the fakes (data dir inside the existing `workdir`); stop it on exit.

    `fixes` (bench.whatif names) runs ours through bench.traced_bot with those prototypes.
    `previews` is ours' `gemini.previews` (thinking models stream their drafts; the default).
    `config` sets or adds keys of ours' config file (e.g. PostgreSQL storage, webhook mode).
    """
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env.update(
        TELEGRAM_BOT_TOKEN=fakes.info["token"],
        GEMINI_API_KEY="bench-api-key",
        PTB_TIMEDELTA="true",
    )
    if kind == "floor":
        argv = [
            "-m",
            "bench.floor_bot",
            "--api-base-url",
            fakes.info["telegram_api"],
            "--file-base-url",
            fakes.info["telegram_files"],
            "--gemini-base-url",
            fakes.info["gemini"],
            "--model",
            model,
        ]
    else:
        config_file = workdir / "config.toml"
        config_file.write_text(_config(fakes, workdir / "data", model, previews, config or {}))
        module = "bot" if kind == "ours" and not fixes else "bench.traced_bot"
        argv = ["-m", module, "run", "--config", str(config_file)]
        if fixes:
            env["BENCH_WHATIF"] = fixes
        if kind == "traced":
            env["BENCH_TRACE"] = str(workdir / "trace.json")
            if lag_probe:
                env["BENCH_LAG"] = "1"
    with (workdir / f"{kind}.log").open("ab") as log:
        t_spawn = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    bot = BotProcess(kind, process, t_spawn)
    try:
        yield bot
    finally:
        await bot.stop()
        # The figures are read; the images go, so their page cache is recycled (see
        # bench.session.warm_page_cache) rather than piling up over the session.
        shutil.rmtree(workdir / "data", ignore_errors=True)


def _config(
    fakes: Fakes, data_dir: Path, model: str, previews: bool, overrides: ConfigOverrides
) -> str:
    sections: dict[str, dict[str, ConfigValue]] = {
        "gemini": {
            "model": model,
            "base_url": fakes.info["gemini"],
            # The model gate must not be what a 200-chat burst waits on.
            "max_concurrent_requests": 256,
            "timeout_s": 120,
            "previews": previews,
        },
        "storage": {"data_dir": str(data_dir)},
        "telegram": {
            "api_base_url": fakes.info["telegram_api"],
            "file_base_url": fakes.info["telegram_files"],
        },
        "logging": {"level": "INFO"},
    }
    for name, values in overrides.items():
        sections.setdefault(name, {}).update(values)
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def _toml(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for the paths and URLs used here
    return repr(value)


async def wait_ready(bot: BotProcess, fakes: Fakes, timeout: float = 60) -> float:  # noqa: ASYNC109
    """Wait for the bot's first getUpdates; return seconds since its process was spawned."""
    first = await fakes.first_poll(bot.t_spawn, timeout)
    if first is None:
        raise RuntimeError(
            f"{bot.kind} bot did not poll within {timeout}s (exit {bot.process.returncode})"
        )
    return first - bot.t_spawn


async def wait_webhooks(
    bots: Sequence[BotProcess],
    fakes: Fakes,
    timeout: float = 60,  # noqa: ASYNC109
) -> None:
    """Wait until every bot (webhook mode) is listening: each asks getWebhookInfo once its
    receiver is up, and the first of them sets the webhook (the others find it set)."""
    since = min(b.t_spawn for b in bots)
    found = await fakes.first_poll(since, timeout, method="getWebhookInfo", count=len(bots))
    if found is None:
        exits = ", ".join(str(b.process.returncode) for b in bots)
        raise RuntimeError(f"not all bots checked the webhook within {timeout}s (exits: {exits})")


async def _end(process: asyncio.subprocess.Process, *, close_stdin: bool) -> int | None:
    if process.returncode is not None:
        return process.returncode
    if close_stdin and process.stdin is not None:
        process.stdin.close()
    else:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()

"""A tiny line-oriented adapter: JSON lines on stdin in, JSON lines on stdout out.

Nothing imports it by name: a test installs it through its `bananabot.adapters` entry point
(a `*.dist-info` folder on `PYTHONPATH`) and talks to a real `python -m bot run` process, which
proves a platform is a plugin the core knows nothing about.

In, one object a line:
    {"id": "u1", "text": "make it blue", "image": "/path/cat.jpg", "reply_to": "b1"}
    {"press": "<a button's payload>"}
Out, one object a line:
    {"card": "b1", "ok": true, "text": "...", "images": 1,
     "buttons": [{"code": "r", "label": "Retry", "payload": "bb2:r:12"}]}
    {"ack": true} | {"note": "..."} | {"files": 1} | {"replace": "..."}
    {"status": "...", "images": 0}
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.actions import Button
from bot.cards import Card
from bot.config import Section, Settings
from bot.delivery import Outbox
from bot.engine import Engine
from bot.outcome import ResultImage, Success
from bot.request import Author, ChatKey, EditRequest, ImageSource

SECTION = "tiny"
AUTHOR = Author("tester", "Tester", "en")


@dataclass(frozen=True, slots=True)
class TinySettings:
    """The [tiny] section: which chat the terminal lines belong to."""

    chat: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.chat)

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()


def emit(event: Mapping[str, Any]) -> None:
    """Write one event line for whoever drives the process."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class TinyOutbox:
    """Prints each card as one line and names it `bN`, so later lines can reply to it."""

    def __init__(self, ids: itertools.count[int]) -> None:
        self._ids = ids

    async def status(self, card: Card) -> None:
        emit({"status": card.text, "images": len(card.images)})

    async def deliver(self, card: Card) -> Sequence[str]:
        message_id = f"b{next(self._ids)}"
        buttons = [{"code": b.code, "label": b.label, "payload": b.payload} for b in card.buttons]
        emit(
            {
                "card": message_id,
                "ok": isinstance(card.outcome, Success),
                "text": card.text,
                "images": len(card.images),
                "buttons": buttons,
            }
        )
        return [message_id]


class TinyPressReply:
    """Answers a press with lines."""

    def __init__(self, outbox: TinyOutbox) -> None:
        self._outbox = outbox

    async def acknowledge(self) -> None:
        emit({"ack": True})

    async def notify(self, text: str) -> None:
        emit({"note": text})

    async def outbox(self) -> Outbox:
        return self._outbox

    async def send_files(self, images: Sequence[ResultImage], caption: str, stem: str) -> None:
        emit({"files": len(images), "caption": caption})

    async def replace(self, text: str) -> None:
        emit({"replace": text})

    async def choose(self, prompt: str, options: Sequence[Button]) -> None:
        emit(
            {
                "choose": prompt,
                "options": [{"label": o.label, "payload": o.payload} for o in options],
            }
        )

    async def presser_is_chat_admin(self) -> bool:
        return False  # one chat, one person: nobody administers anyone

    async def finish(self) -> None:
        """Nothing to release: every answer was one line."""


class TinyAdapter:
    """Serves one chat on stdin/stdout until asked to stop."""

    def __init__(self, engine: Engine, settings: TinySettings) -> None:
        self._engine = engine
        self._chat = ChatKey(SECTION, settings.chat)
        self._outbox = TinyOutbox(itertools.count(1))
        self._serving: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Reading its input."""
        return self._serving is not None and not self._serving.done()

    async def run(self, stop: asyncio.Event) -> None:
        """Answer each line in turn until `stop`; a failure surfaces to the supervisor."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        # A duplicate of stdin: closing the transport must not close fd 0 for a restart.
        pipe = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        serving = self._serving = asyncio.create_task(self._serve(reader))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                serving.result()  # raises what broke it
                await stopped  # end of input: keep the process up until asked to stop
        finally:
            serving.cancel()
            stopped.cancel()
            transport.close()

    async def _serve(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            if line.strip():
                await self._answer(json.loads(line))

    async def _answer(self, line: Mapping[str, Any]) -> None:
        if "press" in line:
            await self._engine.press(
                line["press"], self._chat, AUTHOR, TinyPressReply(self._outbox)
            )
            return
        images: tuple[ImageSource, ...] = ()
        if "image" in line:
            path = Path(line["image"])
            data = await asyncio.to_thread(path.read_bytes)
            images = (ImageSource.from_bytes(data, mimetypes.guess_type(path.name)[0], path.name),)
        request = EditRequest(
            chat=self._chat,
            author=AUTHOR,
            message_id=line["id"],
            text=line.get("text", ""),
            images=images,
            reply_to=line.get("reply_to"),
        )
        await self._engine.handle(request, self._outbox)


class TinyPlugin:
    """The `tiny` adapter plugin: owns the [tiny] section."""

    name = SECTION
    noisy_loggers: tuple[str, ...] = ()
    setup_hint = 'Tiny:     [tiny] chat = "lab"                   (JSON lines on stdin/stdout)'

    def parse(self, section: Section, env: Mapping[str, str]) -> TinySettings:
        return TinySettings(chat=section.string("chat", "").strip())

    def create(self, engine: Engine, settings: Settings) -> TinyAdapter:
        return TinyAdapter(engine, settings.plugin(SECTION, TinySettings))


plugin = TinyPlugin()

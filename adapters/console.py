"""A terminal editing thread over the engine: the quickest way to try prompts and debug lineages.

Results are numbered; `/reply N text` continues from result N (branching when N is not the
latest), plain text continues from the latest result, `/img PATH` attaches images to the next
instruction and starts a new lineage with them.
"""

from __future__ import annotations

import asyncio
import mimetypes
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cards import Card
from bot.config import Settings
from bot.outcome import Failure, FailureKind, Outcome, ResultImage, Success
from bot.request import Author, ChatKey, EditRequest, ImageSource

if TYPE_CHECKING:  # the engine pulls in the model SDK: loading the plugin must stay cheap
    from bot.engine_port import EnginePort
    from bot.plugins import TerminalPlugin

CHAT = ChatKey("console", "local")
RESULT_PREFIX = "r"

HELP = """\
Type an instruction to edit (or, with nothing attached, to continue from the latest result).
  /img PATH [PATH ...]   attach images to the next instruction (starts a new lineage)
  /reply N TEXT          continue from result N (branches if N is not the latest)
  /retry                 answer the last instruction again (a new variant)
  /new                   start over: the next instruction begins a new lineage
  /help                  this text
  /quit                  leave"""


class ConsoleOutbox:
    """Prints outcomes and saves result images as numbered files."""

    def __init__(self, thread: ConsoleThread) -> None:
        self._thread = thread

    async def status(self, card: Card) -> None:
        # The console shows the words only; drafts stay in the model's hands.
        self._thread.write(f"… {card.text}")

    async def deliver(self, card: Card) -> Sequence[str]:
        thread = self._thread
        outcome = card.outcome
        if not isinstance(outcome, Success):
            thread.last_turn_id = card.turn_id or thread.last_turn_id
            thread.write(f"! {card.text}")
            return []
        thread.last_turn_id = outcome.model_turn_id
        number = await thread.next_result_number()
        paths = await asyncio.to_thread(thread.save_images, number, card.images)
        for path in paths:
            thread.write(f"[{number}] {path}")
        if not paths:
            thread.write(f"[{number}] (no image)")
        if card.text:
            thread.write(f"    {card.text}")
        for note in card.notes:
            thread.write(f"    ({note})")
        return [f"{RESULT_PREFIX}{number}"]


class ConsoleThread:
    """One terminal conversation."""

    def __init__(
        self,
        engine: EnginePort,
        out_dir: Path,
        write: Callable[[str], None],
        author: Author | None = None,
    ) -> None:
        self.engine = engine
        self.out_dir = out_dir
        self.write = write
        self.author = author or Author("console", "you", None)
        self.attached: list[Path] = []
        self.last_turn_id: int | None = None

    async def next_result_number(self) -> int:
        """Numbers continue across restarts: they are the links stored for this chat."""
        ids = await self.engine.linked_message_ids(CHAT, RESULT_PREFIX)
        numbers = [int(i[len(RESULT_PREFIX) :]) for i in ids if i[len(RESULT_PREFIX) :].isdigit()]
        return max(numbers, default=0) + 1

    def save_images(self, number: int, images: Sequence[ResultImage]) -> list[Path]:
        """Write the result images; runs in a worker thread."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, image in enumerate(images):
            suffix = f"-{i + 1}" if len(images) > 1 else ""
            path = self.out_dir / f"result-{number}{suffix}.{image.extension}"
            path.write_bytes(image.data)
            paths.append(path)
        return paths

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        if command == "/quit":
            return False
        if command == "/help":
            self.write(HELP)
        elif command == "/img":
            self.attach([Path(p) for p in rest.split()])
        elif command == "/new":
            await self.engine.new_session(CHAT)
            self.attached.clear()
            self.last_turn_id = None
            self.write("Started fresh.")
        elif command == "/retry":
            await self.retry()
        elif command == "/reply":
            number, _, text = rest.strip().partition(" ")
            if not number.isdigit():
                self.write("usage: /reply N instruction")
            else:
                await self.send(text, reply_to=f"{RESULT_PREFIX}{number}")
        elif command.startswith("/"):
            self.write(f"unknown command {command}; /help lists them")
        else:
            await self.send(line)
        return True

    def attach(self, paths: Sequence[Path]) -> None:
        """Queue images for the next instruction."""
        for path in paths:
            if path.is_file():
                self.attached.append(path)
                self.write(f"attached {path}")
            else:
                self.write(f"! no such file: {path}")

    async def send(self, text: str, reply_to: str | None = None) -> Outcome:
        """Send an instruction with the attached images."""
        images = tuple(
            [
                ImageSource.from_bytes(
                    await asyncio.to_thread(path.read_bytes),
                    mimetypes.guess_type(path.name)[0],
                    path.name,
                )
                for path in self.attached
            ]
        )
        self.attached.clear()
        request = EditRequest(
            chat=CHAT,
            author=self.author,
            message_id=f"u{time.time_ns()}",
            text=text,
            images=images,
            reply_to=reply_to,
            continue_latest=reply_to is None and not images,
        )
        if reply_to is not None and not await self.engine.is_linked(CHAT, reply_to):
            self.write(f"! there is no result {reply_to[len(RESULT_PREFIX) :]}")
            return Failure(FailureKind.INPUT, "unknown result")
        return await self.engine.handle(request, ConsoleOutbox(self))

    async def retry(self) -> Outcome | None:
        """Reroll the last instruction."""
        turn_id = self.last_turn_id
        if turn_id is None:
            latest = await self.engine.latest_turn(CHAT)
            turn_id = latest.id if latest else None
        if turn_id is None:
            self.write("! nothing to retry yet")
            return None
        return await self.engine.retry(CHAT, self.author, turn_id, ConsoleOutbox(self))


async def run_console(
    engine: EnginePort, settings: Settings, images: Sequence[Path], out_dir: Path
) -> int:
    """Run the interactive loop on stdin/stdout."""

    def write(text: str) -> None:
        print(text, flush=True)

    thread = ConsoleThread(engine, out_dir, write)
    write(f"bananabot console: model {settings.gemini.model}, results in {out_dir}")
    write("/help lists the commands.")
    thread.attach(images)
    while True:
        sys.stdout.write("> ")
        sys.stdout.flush()
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line or not await thread.handle_line(line):
            return 0


class ConsolePlugin:
    """The terminal `bananabot chat` runs (entry point `console` in `bananabot.adapters`)."""

    name = "console"

    async def converse(
        self, engine: EnginePort, settings: Settings, images: Sequence[Path], out_dir: Path
    ) -> int:
        """Talk on this terminal until the user leaves."""
        return await run_console(engine, settings, images, out_dir)


plugin: TerminalPlugin = ConsolePlugin()

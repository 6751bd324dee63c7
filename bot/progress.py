"""A running step's one status message: its queue position, then the model's drafts, with Stop.

The model streams thoughts faster than chats may be edited, so updates are coalesced: the
status shows the newest state, at most once per `StatusPacer.interval` per chat, and drafts
that were overtaken are never encoded or sent. Showing progress is cosmetic: it never holds up
the model call, and its failures never fail the step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re

from bot import messages
from bot.actions import Button
from bot.cards import Card
from bot.delivery import Outbox
from bot.model import Thought
from bot.outcome import ResultImage
from bot.preview import jpeg_preview
from bot.request import ChatKey

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.5  # Telegram asks for about one edit a second per chat; Discord 5 per 5 s
DRAFT_MAX_SIDE = 1024  # plenty for a phone screen, small enough to upload in a blink
DRAFT_MAX_BYTES = 512 * 1024
LINE_LIMIT = 200
_MARKUP = re.compile(r"[*_#`]+")


def latest_line(summary: str) -> str:
    """The newest line of a thought summary, without Markdown marks, cut to `LINE_LIMIT`."""
    lines = [_MARKUP.sub("", line).strip() for line in summary.splitlines()]
    line = next((line for line in reversed(lines) if line), "")
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1].rstrip() + "…"


class DraftEncoder:
    """Turns drafts into small JPEGs on one thread of its own, one at a time for the whole bot.

    A draft that finds the thread busy is dropped: drafts are cosmetic, and under a burst they
    must neither queue ahead of results in the shared thread pool nor pile up in memory
    (measured in a 200-chat burst: wall 27 -> 16 s, CPU per step 141 -> 85 ms).
    """

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="drafts")
        self._busy = False

    async def encode(self, data: bytes) -> ResultImage | None:
        """The draft for display; None when it is shed or cannot be shown."""
        if self._busy:
            return None
        self._busy = True
        try:
            encoded = await asyncio.get_running_loop().run_in_executor(
                self._pool,
                functools.partial(jpeg_preview, data, DRAFT_MAX_BYTES, max_side=DRAFT_MAX_SIDE),
            )
        finally:
            self._busy = False
        return ResultImage(encoded, "image/jpeg") if encoded is not None else None


class StatusPacer:
    """Spaces status updates of each chat `interval` seconds apart (platform flood limits)."""

    def __init__(self, interval: float = EDIT_INTERVAL_S) -> None:
        self.interval = interval
        self._next: dict[tuple[str, str], float] = {}

    async def turn(self, chat: ChatKey) -> None:
        """Wait until `chat` may see another status update, and claim that slot."""
        loop = asyncio.get_running_loop()
        key = (chat.platform, chat.chat_id)
        now = loop.time()
        previous = self._next.get(key)
        due = max(previous or now, now)
        claimed = self._next[key] = due + self.interval
        if len(self._next) > 1000:  # forget chats whose last update is long past
            self._next = {k: t for k, t in self._next.items() if t > now}
        if due <= now:
            return
        try:
            await asyncio.sleep(due - now)  # pacing: the wait is the point
        except asyncio.CancelledError:
            # The update was dropped (its step ended): give the slot back, unless a later
            # update of the chat has queued behind it meanwhile.
            if self._next.get(key) == claimed:
                if previous is None:
                    del self._next[key]
                else:
                    self._next[key] = previous
            raise


class StepStatus:
    """The status message of one step, fed by the engine, shown through the step's outbox."""

    def __init__(
        self,
        outbox: Outbox,
        pacer: StatusPacer,
        drafts: DraftEncoder,
        chat: ChatKey,
        stop: Button,
        locale: str | None,
    ) -> None:
        self._outbox = outbox
        self._pacer = pacer
        self._drafts = drafts
        self._chat = chat
        self._stop = stop
        self._locale = locale
        self._text = ""
        self._summary = ""
        self._draft: bytes | None = None  # the newest draft, not yet encoded for display
        self._shown: ResultImage | None = None  # the draft on display, encoded
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._showing = False  # an update is on its way to the platform
        self._closed = False

    async def queued(self, position: int) -> None:
        """The step waits for a model slot (the model gate's callback)."""
        self._text = messages.text("queued", self._locale, position=position)
        self._changed()

    def thought(self, thought: Thought) -> None:
        """The model showed some of its thinking (the model's streaming callback)."""
        if thought.text:
            self._summary += thought.text if not self._summary else "\n" + thought.text
        if thought.image is not None:
            self._draft = thought.image
        if self._draft is None and self._shown is None:
            return  # a draft is a picture: words alone wait for one
        line = latest_line(self._summary)
        self._text = (
            messages.text("draft_with_line", self._locale, line=line)
            if line
            else messages.text("draft", self._locale)
        )
        self._changed()

    async def aclose(self) -> None:
        """Stop updating (the outcome is about to be posted); pending updates are dropped.

        An update already on its way is let finish: cancelled mid-request, a message might be
        posted whose id the outbox never learns, and it could never be removed.
        """
        self._closed = True
        pump = self._pump
        if pump is None or pump.done():
            return
        if not self._showing:
            pump.cancel()
        try:
            await asyncio.wait([pump])
        except asyncio.CancelledError:
            pump.cancel()
            raise

    def _changed(self) -> None:
        if self._closed:
            return
        self._wake.set()
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(), name="step-status")

    async def _run(self) -> None:
        while not self._closed:
            await self._wake.wait()
            await self._pacer.turn(self._chat)
            self._wake.clear()
            draft, self._draft = self._draft, None
            self._showing = True
            try:
                if draft is not None:
                    shown = await self._drafts.encode(draft)
                    if shown is None:
                        continue  # shed under load: the status keeps what it shows
                    self._shown = shown
                images = (self._shown,) if self._shown is not None else ()
                await self._outbox.status(Card(self._text, images=images, buttons=(self._stop,)))
            except Exception:  # cosmetic: the step goes on without its status
                log.warning("could not show a step's status", exc_info=True)
            finally:
                self._showing = False

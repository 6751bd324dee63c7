"""/history: the path from a lineage's root to one result, drawn as one storyboard picture.

Thumbnails are cached per image (content-addressed: a lineage that grew by a step decodes one
new picture) and finished boards per path and language. Both caches are only consulted for the
turns the store hands back now, so what /forget or retention deleted is never drawn again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from PIL import Image

from bot import messages, storyboard
from bot.iteration import caption_of
from bot.lineage import ImageRef, Role, Turn
from bot.store import Store

MAX_EDITS = 50  # the last this many results of a longer path are drawn
THUMBNAILS_CACHED = 512  # about 30 KB each
BOARDS_CACHED = 8  # about 0.5 MB each
BACKGROUND_NICE = 10  # CFS then gives the event loop's thread about 9x the drawing's share

log = logging.getLogger(__name__)

A = TypeVar("A")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@functools.cache
def _drawing_threads() -> ThreadPoolExecutor:
    """One thread per core for all drawing: more only crowd out the event loop's thread."""
    return ThreadPoolExecutor(os.cpu_count() or 1, "storyboard", _background_priority)


def _background_priority() -> None:
    """Lower this thread's CPU priority, so drawing, which keeps every core busy for most of a
    second, yields to the event loop and to editing steps. Only on Linux, where nice is per
    thread: elsewhere a thread id given as a process id could name another process."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


class Recent(Generic[K, V]):
    """A mapping that keeps only its `size` most recently used entries."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Storyboard:
    """A drawn path and what it holds."""

    picture: bytes  # JPEG
    edits: int  # results on the path
    shown: int  # of them drawn: the last MAX_EDITS


class Storyboards:
    """Draws paths, off the event loop, reusing what it drew before."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._thumbnails: Recent[str, bytes] = Recent(THUMBNAILS_CACHED)
        self._boards: Recent[Hashable, bytes] = Recent(BOARDS_CACHED)

    async def draw(self, path: Sequence[Turn], locale: str | None) -> Storyboard:
        """The storyboard of `path` (root first, ending at a result)."""
        results = [n for n, turn in enumerate(path) if turn.role is Role.MODEL]
        shown = list(enumerate(results, start=1))[-MAX_EDITS:]  # (depth, index in path)
        start = path[0] if path and path[0].role is Role.USER and path[0].images else None
        pictures = [start.images[0]] if start is not None else []
        pictures += [path[n].images[-1] for _, n in shown if path[n].images]
        key = (locale, tuple(turn.id for turn in path), tuple(pictures))
        board = self._boards.get(key)
        if board is None:
            thumbnails = await self._thumbnails_of(pictures)
            frames: list[storyboard.Frame] = []
            if start is not None:
                label = messages.text("history_start", locale)
                frames.append(storyboard.Frame(label, thumbnails[start.images[0]]))
            frames += [self._frame(path, n, depth, thumbnails, locale) for depth, n in shown]
            board = await self._in_background(storyboard.render, frames)
            self._boards.put(key, board)
        return Storyboard(board, len(results), len(shown))

    def _frame(
        self,
        path: Sequence[Turn],
        n: int,
        depth: int,
        thumbnails: dict[ImageRef, bytes | None],
        locale: str | None,
    ) -> storyboard.Frame:
        result = path[n]
        asked = path[n - 1] if n > 0 and path[n - 1].role is Role.USER else None
        caption = caption_of(asked.text, locale) if asked is not None else ""
        if not result.images:
            placeholder = messages.text("history_no_picture", locale)
            return storyboard.Frame(caption, None, depth, placeholder)
        thumbnail = thumbnails.get(result.images[-1])
        placeholder = messages.text("history_picture_gone", locale)
        return storyboard.Frame(caption, thumbnail, depth, placeholder)

    async def _thumbnails_of(self, refs: Sequence[ImageRef]) -> dict[ImageRef, bytes | None]:
        """Each image's thumbnail; None for an image the store no longer has."""
        found: dict[ImageRef, bytes | None] = {}
        missing: list[ImageRef] = []
        for ref in dict.fromkeys(refs):
            cached = self._thumbnails.get(ref.sha256)
            if cached is not None:
                found[ref] = cached
            else:
                missing.append(ref)
        made = await asyncio.gather(*(self._make(ref) for ref in missing))
        for ref, thumbnail in zip(missing, made, strict=True):
            found[ref] = thumbnail
            if thumbnail is not None:
                self._thumbnails.put(ref.sha256, thumbnail)
        return found

    async def _in_background(self, work: Callable[[A], bytes], arg: A) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(_drawing_threads(), work, arg)

    async def _make(self, ref: ImageRef) -> bytes | None:
        try:
            data = await self._store.read_image(ref)
        except FileNotFoundError:
            return None
        try:
            return await self._in_background(storyboard.thumbnail, data)
        except (OSError, ValueError, Image.DecompressionBombError):
            log.warning("stored image %s does not decode", ref.sha256[:12], exc_info=True)
            return None

"""Pictures of many pictures (the /history storyboard, the /ref contact sheet), drawn off the
event loop from cached thumbnails.

Thumbnails are cached per image, content-addressed: a board that gained one picture decodes
only that one. Callers pass the refs the store hands them now, so a picture /forget or retention
deleted is never drawn again. Drawing runs in one low-priority thread per core.
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
from typing import Generic, TypeVar

from PIL import Image

from bot import storyboard
from bot.lineage import ImageRef
from bot.store import Store

THUMBNAILS_CACHED = 512  # about 30 KB each
BACKGROUND_NICE = 10  # CFS then gives the event loop's thread about 9x the drawing's share

log = logging.getLogger(__name__)

A = TypeVar("A")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@functools.cache
def _drawing_threads() -> ThreadPoolExecutor:
    """One thread per core for all drawing: more only crowd out the event loop's thread."""
    return ThreadPoolExecutor(os.cpu_count() or 1, "drawing", _background_priority)


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


class Boards:
    """Thumbnails of stored images, and boards drawn from them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._thumbnails: Recent[str, bytes] = Recent(THUMBNAILS_CACHED)

    async def thumbnails(self, refs: Sequence[ImageRef]) -> dict[ImageRef, bytes | None]:
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

    async def render(self, frames: Sequence[storyboard.Frame]) -> bytes:
        """`frames` drawn as one JPEG board."""
        return await _in_background(storyboard.render, frames)

    async def _make(self, ref: ImageRef) -> bytes | None:
        try:
            data = await self._store.read_image(ref)
        except FileNotFoundError:
            return None
        try:
            return await _in_background(storyboard.thumbnail, data)
        except (OSError, ValueError, Image.DecompressionBombError):
            log.warning("stored image %s does not decode", ref.sha256[:12], exc_info=True)
            return None


async def _in_background(work: Callable[[A], bytes], arg: A) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(_drawing_threads(), work, arg)

"""Image intake: fit a turn's images to the model, fetch them, validate and normalize them.

Downloads and Pillow work are the heavy phases of a step; bounding them keeps a burst of chats
from thrashing the machine while the (idle) model waits stay wide.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from bot import messages
from bot.errors import BotError, InputRejected
from bot.images import ImageLimits, ImageNote, PreparedImage, prepare_image
from bot.lineage import ImageRef
from bot.request import ImageSource

log = logging.getLogger(__name__)

MAX_PARALLEL_DOWNLOADS = 16
MAX_PARALLEL_IMAGE_JOBS = max(2, os.cpu_count() or 2)


def too_large(size: int, limit: int) -> InputRejected:
    """The refusal for a file over the byte limit."""
    return InputRejected(
        "file_too_large", size_mb=size / 1024 / 1024, limit_mb=limit / 1024 / 1024
    )


class ImageIntake:
    """Fetches and prepares the images of incoming turns, a bounded number at a time."""

    def __init__(self, limits: ImageLimits) -> None:
        self._limits = limits
        self._downloads = asyncio.Semaphore(MAX_PARALLEL_DOWNLOADS)
        self._jobs = asyncio.Semaphore(MAX_PARALLEL_IMAGE_JOBS)

    @staticmethod
    def fit(
        sources: Sequence[ImageSource],
        carried: Sequence[ImageRef],
        room: int,
        limit: int,
        locale: str | None,
    ) -> tuple[list[ImageSource], list[ImageRef], tuple[str, ...]]:
        """Keep as many images as the model takes (held ones first); say what was left out."""
        given = len(sources) + len(carried)
        if given <= room:
            return list(sources), list(carried), ()
        kept_carried = list(carried[:room])
        kept_sources = list(sources[: room - len(kept_carried)])
        note = messages.text("done_note_images_used", locale, limit=limit, used=room, given=given)
        return kept_sources, kept_carried, (note,)

    async def prepare(self, sources: Sequence[ImageSource]) -> list[PreparedImage]:
        """Fetch and prepare every image; raise a `BotError` for the first bad one."""
        limit = self._limits.max_bytes
        for source in sources:
            if source.declared_size is not None and source.declared_size > limit:
                raise too_large(source.declared_size, limit)
        return list(await asyncio.gather(*(self._prepare_one(s) for s in sources)))

    async def _prepare_one(self, source: ImageSource) -> PreparedImage:
        async with self._downloads:
            try:
                data = await source.fetch()
            except BotError:
                raise
            except Exception as exc:
                log.warning("download of %r failed", source.name, exc_info=True)
                raise InputRejected("download_failed") from exc
        if len(data) > self._limits.max_bytes:
            raise too_large(len(data), self._limits.max_bytes)
        async with self._jobs:
            return await prepare_image(data, self._limits, verify=not source.trusted)

    @staticmethod
    def notes(
        sources: Sequence[ImageSource], prepared: Sequence[PreparedImage], locale: str | None
    ) -> tuple[str, ...]:
        """What the user should know about how their images were read."""
        notes = []
        if any(source.still_of_animation for source in sources):
            notes.append(messages.text("done_note_still_frame", locale))
        if any(ImageNote.ANIMATED_FIRST_FRAME in p.notes for p in prepared):
            notes.append(messages.text("done_note_first_frame", locale))
        return tuple(notes)

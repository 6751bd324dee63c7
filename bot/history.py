"""/history: the path from a lineage's root to one result, drawn as one storyboard picture.

Finished boards are cached per path and language (on top of `bot.boards`' thumbnail cache),
keyed by the turns and images the store hands back now: what /forget or retention deleted is
never drawn again.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from bot import messages, storyboard
from bot.boards import Boards, Recent
from bot.iteration import caption_of
from bot.lineage import ImageRef, Role, Turn

MAX_EDITS = 50  # the last this many results of a longer path are drawn
BOARDS_CACHED = 8  # about 0.5 MB each


@dataclass(frozen=True, slots=True)
class Storyboard:
    """A drawn path and what it holds."""

    picture: bytes  # JPEG
    edits: int  # results on the path
    shown: int  # of them drawn: the last MAX_EDITS


class Storyboards:
    """Draws paths, off the event loop, reusing what it drew before."""

    def __init__(self, boards: Boards) -> None:
        self._drawing = boards
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
            thumbnails = await self._drawing.thumbnails(pictures)
            frames: list[storyboard.Frame] = []
            if start is not None:
                label = messages.text("history_start", locale)
                frames.append(storyboard.Frame(label, thumbnails[start.images[0]], muted=True))
            frames += [self._frame(path, n, depth, thumbnails, locale) for depth, n in shown]
            board = await self._drawing.render(frames)
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

"""Draw a storyboard: a lineage's pictures in order, numbered, each with its instruction below.

Pure Pillow and CPU-bound: call it in a thread. Captions are set in Noto Sans CJK (the
`manimgx-fonts-cjk` wheel, SIL OFL 1.1), so Chinese, Japanese and Korean instructions draw as
well as Latin ones, with nothing fetched at run time.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

from PIL import Image, ImageDraw, ImageFont, ImageOps

from bot.preview import flatten

# Both sides stay under Telegram's 2048 px line: the board goes out as one photo, no file.
MAX_SIDE = 2000
MAX_THUMB = 360  # the largest thumbnail square; thumbnails are cached at this size
PAD = 16  # around the board
GAP = 14  # between cells
FONT_PX = 16
LINE_PX = 21
CAPTION_LINES = 3
CAPTION_PX = 8 + CAPTION_LINES * LINE_PX
BADGE_FONT_PX = 15
TARGET_ASPECT = 4 / 3  # among equally large layouts, the one closest to a screen
JPEG_QUALITY = 88

PAPER = (255, 255, 255)
WELL = (236, 236, 236)  # behind a thumbnail that does not fill its square
INK = (34, 34, 34)
MUTED = (120, 120, 120)
BADGE = (24, 24, 24)
BADGE_INK = (255, 255, 255)

FONT_FILE = files("manimgx_fonts_cjk") / "NotoSansCJK-VF.otf.ttc"
SIMPLIFIED_CHINESE = 2  # the collection's faces: JP, KR, SC, TC, HK; each has every glyph
REGULAR, BOLD = 400, 700  # the variable font's weight axis
# No line may start with these: they stay on the line of the character before them.
NO_LINE_START = frozenset("，。、；：！？）」』】》〉”’,.;:!?)]}…")


@dataclass(frozen=True, slots=True)
class Frame:
    """One cell of a board (a storyboard, a contact sheet)."""

    caption: str
    thumbnail: bytes | None  # from `thumbnail()`; None: `placeholder` stands in its place
    number: int | None = None  # shown in a badge: the edit's place in its lineage
    placeholder: str = ""
    muted: bool = False  # a caption in grey (the starting picture's "Start")


@dataclass(frozen=True, slots=True)
class Grid:
    """How many cells across and down, and the side of each thumbnail square."""

    columns: int
    rows: int
    side: int

    @property
    def size(self) -> tuple[int, int]:
        """The board's width and height in pixels."""
        width = 2 * PAD + self.columns * self.side + (self.columns - 1) * GAP
        height = 2 * PAD + self.rows * (self.side + CAPTION_PX) + (self.rows - 1) * GAP
        return width, height

    def origin(self, index: int) -> tuple[int, int]:
        """The top-left corner of cell `index` (row by row)."""
        row, column = divmod(index, self.columns)
        return (
            PAD + column * (self.side + GAP),
            PAD + row * (self.side + CAPTION_PX + GAP),
        )


def grid(count: int) -> Grid:
    """The layout with the largest thumbnails that fits `count` cells in MAX_SIDE squared."""
    best: Grid | None = None
    for columns in range(1, max(1, count) + 1):
        rows = math.ceil(count / columns)
        by_width = (MAX_SIDE - 2 * PAD - (columns - 1) * GAP) // columns
        by_height = (MAX_SIDE - 2 * PAD - (rows - 1) * GAP) // rows - CAPTION_PX
        candidate = Grid(columns, rows, min(MAX_THUMB, by_width, by_height))
        if candidate.side <= 0:
            continue
        if best is None or (candidate.side, -_misfit(candidate, count)) > (
            best.side,
            -_misfit(best, count),
        ):
            best = candidate
    assert best is not None
    return best


def _misfit(layout: Grid, count: int) -> float:
    """How far a layout is from a screen's shape, plus its share of empty cells."""
    width, height = layout.size
    empty = layout.columns * layout.rows - count
    return abs(math.log(width / height / TARGET_ASPECT)) + empty / layout.columns


def thumbnail(data: bytes) -> bytes:
    """An image within MAX_THUMB px as a JPEG: what a frame carries, small enough to cache."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (MAX_THUMB, MAX_THUMB))  # JPEG sources decode smaller for free
        opened.load()
        image = flatten(opened)
    if min(image.size) >= 2 * MAX_THUMB:  # halving first is 2x cheaper and looks the same
        image = image.reduce(2)
    image.thumbnail((MAX_THUMB, MAX_THUMB), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def render(frames: Sequence[Frame]) -> bytes:
    """The storyboard of `frames` as one JPEG, row by row in their order."""
    layout = grid(len(frames))
    board = Image.new("RGB", layout.size, PAPER)
    draw = ImageDraw.Draw(board)
    text_font = font(FONT_PX, REGULAR)
    badge_font = font(BADGE_FONT_PX, BOLD)
    for index, frame in enumerate(frames):
        x, y = layout.origin(index)
        side = layout.side
        draw.rectangle((x, y, x + side - 1, y + side - 1), fill=WELL)
        if frame.thumbnail is not None:
            with Image.open(io.BytesIO(frame.thumbnail)) as opened:
                opened.draft("RGB", (side, side))
                picture = ImageOps.contain(opened.convert("RGB"), (side, side))
            inset = ((side - picture.width) // 2, (side - picture.height) // 2)
            board.paste(picture, (x + inset[0], y + inset[1]))
        else:
            lines = wrap(frame.placeholder, text_font, side - 24, CAPTION_LINES)
            top = y + (side - len(lines) * LINE_PX) // 2
            for n, line in enumerate(lines):
                left = x + (side - text_font.getlength(line)) / 2
                draw.text((left, top + n * LINE_PX), line, font=text_font, fill=MUTED)
        if frame.number is not None:
            _badge(draw, (x + 6, y + 6), str(frame.number), badge_font)
        colour = MUTED if frame.muted else INK
        for n, line in enumerate(wrap(frame.caption, text_font, side, CAPTION_LINES)):
            draw.text((x, y + side + 6 + n * LINE_PX), line, font=text_font, fill=colour)
    buf = io.BytesIO()
    board.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _badge(
    draw: ImageDraw.ImageDraw, at: tuple[int, int], label: str, badge_font: ImageFont.FreeTypeFont
) -> None:
    """The frame's number in a dark rounded box: readable on any picture."""
    x, y = at
    width = max(24, math.ceil(badge_font.getlength(label)) + 14)
    draw.rounded_rectangle((x, y, x + width, y + 24), radius=8, fill=BADGE)
    draw.text((x + width / 2, y + 12), label, font=badge_font, fill=BADGE_INK, anchor="mm")


def font(px: int, weight: int = REGULAR) -> ImageFont.FreeTypeFont:
    """The caption face at `px` pixels and `weight`.

    A new object per call (about 0.3 ms): FreeType faces must not be shared between threads.
    """
    face = ImageFont.truetype(str(FONT_FILE), px, index=SIMPLIFIED_CHINESE)
    face.set_variation_by_axes([weight])
    return face


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """`text` broken into at most `max_lines` lines of at most `width` px, the last one ending
    in "…" when the text goes on. Breaks at spaces and between CJK characters; a word longer
    than a line is cut."""
    lines: list[str] = []
    line = ""
    for token in _tokens(drawable(text)):
        if face.getlength(line + token) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = "" if token.isspace() else token
        while line and face.getlength(line) > width:
            cut = _fitting(line, face, width)
            lines.append(line[:cut])
            line = line[cut:]
        if len(lines) > max_lines:
            break
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1]
    while last and face.getlength(last + "…") > width:
        last = last[:-1]
    return [*lines[: max_lines - 1], last.rstrip() + "…"]


def _fitting(text: str, face: ImageFont.FreeTypeFont, width: int) -> int:
    """How many leading characters of `text` fit in `width` px (at least one)."""
    cut = 1
    while cut < len(text) and face.getlength(text[: cut + 1]) <= width:
        cut += 1
    return cut


def _tokens(text: str) -> list[str]:
    """Words, single CJK characters (each a place to break) and single spaces."""
    tokens: list[str] = []
    word = ""
    for char in " ".join(text.split()):
        wide = unicodedata.east_asian_width(char) in ("W", "F")
        if char == " " or wide or char in NO_LINE_START:
            if char in NO_LINE_START and (word or (tokens and tokens[-1] != " ")):
                if word:
                    word += char
                else:
                    tokens[-1] += char
                continue
            if word:
                tokens.append(word)
                word = ""
            tokens.append(char)
        else:
            word += char
    if word:
        tokens.append(word)
    return tokens


def drawable(text: str) -> str:
    """`text` without what the caption face has no glyph for: emoji and their joiners."""
    return "".join(
        char
        for char in text
        if not (
            ord(char) >= 0x1F000
            or char in "\u200d\ufe0f\ufe0e"
            or (unicodedata.category(char) == "So" and 0x2600 <= ord(char) < 0x2800)
        )
    )

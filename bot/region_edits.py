"""Region edits: a reply whose picture is a marked-up copy of the image it replies to.

The user turn then holds a guide (the clean picture with the region tinted and outlined), the
region's mask (stored, never sent: a hidden part) and the instruction wrapped in
REGION_INSTRUCTION; the marked copy itself is neither stored nor sent. The model sees the clean
original in the lineage as always. Its answer is blended into the original through the mask,
so nothing outside the region moves; the unblended answer is kept (hidden) for Whole image.
Everything needed lives in the stored turns, so Retry, Variations and restarts repeat it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Sequence

from bot import marking
from bot.lineage import ImageRef, Part, Turn
from bot.model import AnswerPart, ModelAnswer

# Hidden parts (thought=True: never shown, never replayed), told apart by their raw marker.
REGION_MASK = '{"bananabot": "region-mask"}'
WHOLE_IMAGE = '{"bananabot": "whole-image"}'
REGION_INSTRUCTION = (
    "Change only the area tinted and outlined in red in the image just above; everything "
    "else must stay exactly as in the previous picture. In that area: {instruction}\n"
    "Return the whole picture, without the tint, the outline or any other marking."
)
_REGION = re.compile(re.escape(REGION_INSTRUCTION).replace(r"\{instruction\}", "(.*)"), re.S)


@dataclasses.dataclass(frozen=True, slots=True)
class Region:
    """A marked region, ready to store: the guide picture and the mask, as PNG."""

    guide: bytes
    mask: bytes


def _region(original: bytes, marked: bytes) -> Region | None:
    found = marking.find_marking(original, marked)
    if found is None:
        return None
    return Region(marking.guide(original, found.mask), marking.mask_png(found.mask))


async def region_of(original: bytes, marked: bytes) -> Region | None:
    """The region `marked` marks on `original`, if it is a marked copy (Pillow, in a thread)."""
    return await asyncio.to_thread(_region, original, marked)


def region_parts(
    guide: ImageRef, mask: ImageRef, instruction: str, references: Sequence[Part] = ()
) -> list[Part]:
    """The user turn of a region edit: the guide, the hidden mask, any references' parts, then
    the wrapped instruction."""
    return [
        Part(image=guide),
        Part(image=mask, thought=True, raw=REGION_MASK),
        *references,
        Part(text=REGION_INSTRUCTION.format(instruction=instruction)),
    ]


def instruction_of(text: str) -> str | None:
    """The user's own words of a region edit's instruction; None for any other text."""
    found = _REGION.fullmatch(text)
    return found.group(1) if found else None


def mask_of(turn: Turn) -> ImageRef | None:
    """The region mask a user turn carries, if it is a region edit."""
    return next((p.image for p in turn.parts if p.raw == REGION_MASK and p.image), None)


def whole_image_of(turn: Turn) -> tuple[ImageRef, str | None] | None:
    """A region result's unblended image and the raw of the visible image it stands for."""
    whole = next((p.image for p in turn.parts if p.raw == WHOLE_IMAGE and p.image), None)
    shown = [p for p in turn.parts if p.image is not None and not p.thought]
    if whole is None or not shown:
        return None
    return whole, shown[-1].raw


def _blended(answer: ModelAnswer, original: bytes, mask: bytes) -> ModelAnswer:
    last = answer.images[-1]
    assert last.image is not None
    blended = marking.composite(original, last.image, marking.mask_from_png(mask))
    parts = [
        dataclasses.replace(p, image=blended, mime_type="image/png") if p is last else p
        for p in answer.parts
    ]
    hidden = AnswerPart(WHOLE_IMAGE, image=last.image, mime_type=last.mime_type, thought=True)
    return dataclasses.replace(answer, parts=(*parts, hidden))


async def blended(answer: ModelAnswer, original: bytes, mask: bytes) -> ModelAnswer:
    """`answer` with its picture blended into `original` through `mask`, the unblended one
    kept as a hidden part (Pillow, in a thread)."""
    return await asyncio.to_thread(_blended, answer, original, mask)

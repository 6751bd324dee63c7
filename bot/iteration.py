"""One-tap next steps from a result: what each sends the model, built from the result itself,
and how Variations' several answers become one outcome.

A follow-up is an ordinary user turn under the result (replies continue from its answer, Retry
repeats it, it survives restarts); only its pictures, instruction and options are made here.
Pillow work runs in a thread.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from PIL import Image

from bot import messages
from bot.capabilities import ModelCapabilities
from bot.model import GenerationSettings
from bot.outcome import Failure, Outcome, ResultImage, Success
from bot.region_edits import instruction_of as region_instruction_of

ZOOM_FACTOR = 1.5
# The empty border: a flat mid grey is unmistakably "not part of the picture" for the model.
CANVAS_COLOUR = (128, 128, 128)

ZOOM_OUT_INSTRUCTION = (
    "Zoom out: this is the previous image, centred on a larger canvas of the same shape. Fill "
    "the grey border with a natural continuation of the scene (same style, light and "
    "perspective) and keep the centre exactly as it is. Return the whole picture, no border."
)
REFRAME_INSTRUCTION = (
    "Reframe to {ratio}: this is the previous image, centred on a canvas of the new shape. "
    "Fill the grey areas with a natural continuation of the scene (same style, light and "
    "perspective) and keep the original area exactly as it is. Return the whole picture."
)
UPSCALE_INSTRUCTION = (
    "Render the previous image again at a higher resolution. Keep the content identical: same "
    "composition, subjects, colours, text and details; add only sharpness and fine detail."
)
_REFRAMED = re.compile(re.escape(REFRAME_INSTRUCTION).replace(r"\{ratio\}", r"(\d+:\d+)"))


def caption_of(instruction: str, locale: str | None) -> str:
    """How an instruction is shown to people (storyboard, Info): a one-tap step's words to the
    model are ours, not the user's, so it is shown as the button that made it."""
    if instruction == ZOOM_OUT_INSTRUCTION:
        return messages.text("zoom_out_button", locale)
    if instruction == UPSCALE_INSTRUCTION:
        return messages.text("upscale_button", locale)
    if reframed := _REFRAMED.fullmatch(instruction):
        return f"{messages.text('reframe_button', locale)} {reframed.group(1)}"
    if (words := region_instruction_of(instruction)) is not None:
        return messages.text("region_caption", locale, instruction=words)
    return instruction


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What an action asks of the model about a result."""

    text: str
    wanted: GenerationSettings
    images: tuple[ResultImage, ...] = ()  # sent before the text, in the new user turn


# (the result's last image, the chat's generation settings, capabilities of a model) -> request
Builder = Callable[
    [ResultImage, GenerationSettings, Callable[[str], ModelCapabilities]],
    Awaitable[FollowUp | None],
]


def pad_to_zoom(data: bytes, factor: float = ZOOM_FACTOR) -> bytes:
    """`data` centred on a `factor` times larger canvas of the same aspect ratio, as PNG."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    canvas = Image.new("RGB", (round(width * factor), round(height * factor)), CANVAS_COLOUR)
    canvas.paste(image, ((canvas.width - width) // 2, (canvas.height - height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    return buf.getvalue()


def pad_to_ratio(data: bytes, ratio: str) -> bytes:
    """`data` centred on the smallest canvas of aspect `ratio` ("16:9") that holds it, as PNG."""
    w_part, h_part = (int(n) for n in ratio.split(":"))
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    if width * h_part >= height * w_part:  # wider than the target: grow the height
        size = (width, max(height, round(width * h_part / w_part)))
    else:
        size = (max(width, round(height * w_part / h_part)), height)
    canvas = Image.new("RGB", size, CANVAS_COLOUR)
    canvas.paste(image, ((size[0] - width) // 2, (size[1] - height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    return buf.getvalue()


def reframer(ratio: str) -> Builder:
    """Pad the result to `ratio` and ask for that ratio, when the model offers it."""

    async def reframe(
        result: ResultImage,
        current: GenerationSettings,
        caps: Callable[[str], ModelCapabilities],
    ) -> FollowUp | None:
        if ratio not in caps(current.model).aspect_ratios:
            return None
        padded = await asyncio.to_thread(pad_to_ratio, result.data, ratio)
        wanted = replace(current, aspect_ratio=ratio)
        text = REFRAME_INSTRUCTION.format(ratio=ratio)
        return FollowUp(text, wanted, (ResultImage(padded, "image/png"),))

    return reframe


async def zoom_out(
    result: ResultImage,
    current: GenerationSettings,
    caps: Callable[[str], ModelCapabilities],
) -> FollowUp:
    """Pad the result onto a larger canvas and have the model fill the border."""
    padded = await asyncio.to_thread(pad_to_zoom, result.data)
    return FollowUp(ZOOM_OUT_INSTRUCTION, current, (ResultImage(padded, "image/png"),))


def larger_size(current: GenerationSettings, caps: ModelCapabilities) -> str | None:
    """The largest size the model offers, when it is larger than the one asked for.

    Sizes are listed smallest first; no size asked for means the model's default, 1K.
    """
    sizes = caps.image_sizes
    if not sizes:
        return None
    now = current.image_size or "1K"
    position = sizes.index(now) if now in sizes else 0
    return sizes[-1] if position < len(sizes) - 1 else None


def upscaler(upscale_model: str, upscale_size: str) -> Builder:
    """Upscale with the chat's model at its largest size, else with `upscale_model`."""

    async def upscale(
        result: ResultImage,
        current: GenerationSettings,
        caps: Callable[[str], ModelCapabilities],
    ) -> FollowUp | None:
        size = larger_size(current, caps(current.model))
        if size is not None:
            return FollowUp(UPSCALE_INSTRUCTION, replace(current, image_size=size))
        other = caps(upscale_model) if upscale_model else None
        if other is not None and upscale_size in other.image_sizes:
            wanted = GenerationSettings(
                model=upscale_model,
                aspect_ratio=current.aspect_ratio
                if current.aspect_ratio in other.aspect_ratios
                else None,
                image_size=upscale_size,
                thoughts=current.thoughts and other.thinking,
            )
            return FollowUp(UPSCALE_INSTRUCTION, wanted)
        return None

    return upscale


def gathered(outcomes: Sequence[Outcome], locale: str | None) -> Outcome:
    """Several answers to one turn as one outcome: the images of those that succeeded, each
    with its model turn, and a note naming the ones that did not."""
    succeeded = [o for o in outcomes if isinstance(o, Success) and o.images]
    if not succeeded:
        failed = [o for o in outcomes if isinstance(o, Failure)]
        return failed[0] if failed else outcomes[0]
    notes = tuple(
        messages.text("variation_failed", locale, number=n, reason=o.message)
        for n, o in enumerate(outcomes, start=1)
        if isinstance(o, Failure)
    )
    first = succeeded[0]
    return replace(
        first,
        images=tuple(image for o in succeeded for image in o.images[-1:]),
        text=messages.text("variations_text", locale, count=len(succeeded)),
        notes=notes,
        variants=tuple(o.model_turn_id for o in succeeded),
        sources=(),
    )

"""What the engine hands back to adapters: a result to post, or a failure to explain."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import BotError

# File name extensions for the image types Gemini returns; the one table every adapter uses.
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
}


@dataclass(frozen=True, slots=True)
class ResultImage:
    """One image to post, as Gemini returned it (lossless)."""

    data: bytes
    mime_type: str

    @property
    def extension(self) -> str:
        """The file name extension for this image's type ("png" when unknown)."""
        return EXTENSIONS.get(self.mime_type, "png")


@dataclass(frozen=True, slots=True)
class Source:
    """A web page an answer was grounded in (Google Search); shown with the result."""

    title: str
    uri: str


def file_names(images: Sequence[ResultImage], stem: str) -> list[str]:
    """File names for a set of images: `stem.png`, or `stem-1.png`, `stem-2.jpg` ..."""
    if len(images) == 1:
        return [f"{stem}.{images[0].extension}"]
    return [f"{stem}-{n}.{image.extension}" for n, image in enumerate(images, start=1)]


@dataclass(frozen=True, slots=True)
class Success:
    """The model answered; `images` may be empty when it answered with text only."""

    user_turn_id: int
    model_turn_id: int
    images: tuple[ResultImage, ...]
    text: str  # the model's visible text, or the localized text-only notice
    notes: tuple[str, ...] = ()  # localized remarks (first frame used, images trimmed ...)
    rebased: bool = False
    sources: tuple[Source, ...] = ()  # Google Search results the answer is grounded in
    model: str = ""  # the model asked, and the size (None: its default), for next steps
    image_size: str | None = None
    # Variations: the model turn of each image, in order (several answers to one turn).
    variants: tuple[int, ...] = ()
    region: bool = False  # a region edit: blended into the original, Whole image offered


class FailureKind(enum.StrEnum):
    """Why a step ended without a result."""

    ACCESS = "access"
    INPUT = "input"  # bad file, over-long prompt: fix and send again
    BLOCKED = "blocked"
    MODEL = "model"  # model error: Retry may help when `retryable`
    INTERNAL = "internal"
    NEED_INSTRUCTION = "need_instruction"  # images held; waiting for text
    QUOTA = "quota"  # a daily or in-flight limit: not charged, try later
    INTERRUPTED = "interrupted"  # the process stopped mid-step; Retry runs it again
    STOPPED = "stopped"  # someone pressed Stop; Retry runs it again


@dataclass(frozen=True, slots=True)
class Failure:
    """The step ended without a result; `message` is localized and ready to post."""

    kind: FailureKind
    message: str
    user_turn_id: int | None = None  # set when the user's turn was stored (Retry possible)
    retryable: bool = False
    error: BotError | None = None
    notes: tuple[str, ...] = ()  # localized remarks, as on a result (a GIF's still was used)


Outcome = Success | Failure

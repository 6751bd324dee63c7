"""What the engine hands back to adapters: a result to post, or a failure to explain."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.errors import BotError


@dataclass(frozen=True, slots=True)
class ResultImage:
    """One image to post, as Gemini returned it (lossless)."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Success:
    """The model answered; `images` may be empty when it answered with text only."""

    user_turn_id: int
    model_turn_id: int
    images: tuple[ResultImage, ...]
    text: str  # the model's visible text, or the localized text-only notice
    notes: tuple[str, ...] = ()  # localized remarks (first frame used, images trimmed ...)
    rebased: bool = False


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


@dataclass(frozen=True, slots=True)
class Failure:
    """The step ended without a result; `message` is localized and ready to post."""

    kind: FailureKind
    message: str
    user_turn_id: int | None = None  # set when the user's turn was stored (Retry possible)
    retryable: bool = False
    error: BotError | None = None


Outcome = Success | Failure

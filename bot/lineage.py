"""Turns, parts and the context policy: what the model sees for a path. Pure, no I/O.

A lineage is a tree of turns. The model receives the path from the root to the parent turn plus
the new user turn. While that path fits the model's input-image limit and the byte budget it is
sent as it is (model turns replayed exactly, signatures included). Beyond that it is *rebased*
into one user turn: the root's reference images, the latest image, the earlier instructions as
text, and the new instruction. Rebasing alters no model turn, so no signature rule can break.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

MAX_REBASE_INSTRUCTIONS = 12
MAX_REBASE_INSTRUCTION_CHARS = 300


class Role(enum.StrEnum):
    USER = "user"
    MODEL = "model"


class TurnStatus(enum.StrEnum):
    """User turns: pending -> answered | failed; draft waits for an instruction. Model: ok."""

    DRAFT = "draft"
    PENDING = "pending"
    ANSWERED = "answered"
    FAILED = "failed"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A stored image, addressed by the sha256 of its bytes."""

    sha256: str
    mime_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a turn, in its original order.

    `raw` is, for model parts, the part exactly as Gemini sent it (JSON, image bytes left out),
    so thought signatures and unknown fields replay byte-identical.
    """

    text: str | None = None
    image: ImageRef | None = None
    thought: bool = False
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One side of the conversation."""

    id: int
    lineage_id: int
    parent_id: int | None
    role: Role
    author_id: str
    status: TurnStatus
    parts: tuple[Part, ...]
    model: str | None = None
    created_at: float = 0.0

    @property
    def text(self) -> str:
        """The visible (non-thought) text."""
        return "\n".join(p.text for p in self.parts if p.text and not p.thought).strip()

    @property
    def images(self) -> tuple[ImageRef, ...]:
        """Visible images in order; for model turns the result is the last one."""
        return tuple(p.image for p in self.parts if p.image is not None and not p.thought)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """What one model turn cost and how it was made (for quotas, /usage and Info)."""

    images: int
    prompt_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    seconds: float = 0.0  # from the model call's start to its answer
    cost_usd: float = 0.0  # estimated from the price table
    image_size: str | None = None  # as asked (None: the model's default)
    aspect_ratio: str | None = None


@dataclass(frozen=True, slots=True)
class ContextTurn:
    """One entry of the request's `contents`."""

    role: Role
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """How much one request may carry."""

    max_images: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """The contents to send, and whether they were rebased."""

    turns: tuple[ContextTurn, ...]
    rebased: bool

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return tuple(p.image for t in self.turns for p in t.parts if p.image is not None)


def _cost(turns: Sequence[ContextTurn]) -> tuple[int, int]:
    images = [p.image for t in turns for p in t.parts if p.image is not None]
    return len(images), sum(i.size for i in images)


def replayed(part: Part) -> bool:
    """Whether a stored part goes back to the model in later requests.

    A thought summary (its words and draft images) is not needed in the history: Gemini asks
    for the thought signatures back, which sit on the answer's own parts, and calls a thought's
    summary optional. Replayed, each draft would be billed as input and crowd the context.
    A thought part that carries a signature itself is kept, signature and all.
    """
    return not part.thought or (part.raw is not None and '"thought_signature"' in part.raw)


def plan_context(
    path: Sequence[Turn], new_parts: Sequence[Part], budget: ContextBudget
) -> ContextPlan:
    """Choose the request contents for `new_parts` continuing after `path` (root first)."""
    new_parts = [p for p in new_parts if replayed(p)]  # a region's mask is never sent
    full = (
        *(ContextTurn(t.role, tuple(p for p in t.parts if replayed(p))) for t in path),
        ContextTurn(Role.USER, tuple(new_parts)),
    )
    count, size = _cost(full)
    if count <= budget.max_images and size <= budget.max_bytes:
        return ContextPlan(full, rebased=False)
    return ContextPlan((rebase(path, new_parts, budget),), rebased=True)


def rebase(path: Sequence[Turn], new_parts: Sequence[Part], budget: ContextBudget) -> ContextTurn:
    """Fold `path` into one user turn that fits `budget`.

    Priority: the new images, then the latest image, then the root's references.
    """
    new_images = [p.image for p in new_parts if p.image is not None]
    latest = next(
        (img for t in reversed(path) for img in reversed(t.images)),
        None,
    )
    root_images = list(path[0].images) if path and path[0].role is Role.USER else []

    chosen: list[ImageRef] = []
    used_bytes = 0

    def take(image: ImageRef) -> bool:
        nonlocal used_bytes
        if image in chosen:
            return True
        if len(chosen) >= budget.max_images or used_bytes + image.size > budget.max_bytes:
            return False
        chosen.append(image)
        used_bytes += image.size
        return True

    for image in new_images:
        take(image)
    has_latest = latest is not None and take(latest)
    references = [image for image in root_images if image != latest and take(image)]

    # The text explains the history's images in order: references, then the current result.
    ordered = references + ([latest] if has_latest and latest is not None else [])

    instructions = [t.text for t in path if t.role is Role.USER and t.text]
    instructions = instructions[-MAX_REBASE_INSTRUCTIONS:]
    lines: list[str] = []
    if references:
        lines.append(f"Images 1-{len(references)} are the original reference images.")
    if has_latest:
        lines.append(f"Image {len(references) + 1} is the current version of the picture.")
    if instructions:
        lines.append("Edits already applied, oldest first:")
        lines.extend(f"{n}. {_clip(text)}" for n, text in enumerate(instructions, start=1))
    lines.append("Now apply this edit to the current version:")

    parts = [Part(image=image) for image in ordered]
    parts.append(Part(text="\n".join(lines)))
    # The new turn follows as it was sent: a "Reference #NAME:" label stays before its images.
    parts += [
        p
        for p in new_parts
        if p.text or (p.image is not None and p.image in chosen and p.image not in ordered)
    ]
    return ContextTurn(Role.USER, tuple(parts))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_REBASE_INSTRUCTION_CHARS:
        return text
    return text[: MAX_REBASE_INSTRUCTION_CHARS - 1] + "…"

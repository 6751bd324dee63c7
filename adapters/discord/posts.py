"""Lay an outcome out as Discord messages: text within 2000 characters, files within the limit."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from adapters.discord import texts
from bot.outcome import Failure, Outcome, ResultImage, Success
from bot.preview import jpeg_preview
from bot.textsplit import split_text

MESSAGE_LIMIT = 2000
DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES  # 10 MiB
MIB = 1024 * 1024
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to attach; bytes are kept so a failed send can be repeated elsewhere."""

    filename: str
    data: bytes

    def file(self) -> discord.File:
        """A fresh `discord.File` (a File is consumed by one send)."""
        return discord.File(io.BytesIO(self.data), self.filename)


@dataclass(frozen=True, slots=True)
class Buttons:
    """Which result buttons a message carries (turn ids; None: no such button)."""

    retry_turn: int | None = None
    original_turn: int | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """One Discord message to send."""

    content: str
    uploads: tuple[Upload, ...] = ()
    buttons: Buttons | None = None


async def compose(
    outcome: Outcome, locale: str | None, upload_limit: int, prefix: str = ""
) -> list[Post]:
    """The messages that show `outcome`; `prefix` (a mention) starts the first one."""
    if isinstance(outcome, Failure):
        buttons = (
            Buttons(retry_turn=outcome.user_turn_id)
            if outcome.retryable and outcome.user_turn_id is not None
            else None
        )
        return layout(outcome.message, (), buttons, prefix)
    uploads, notes = await _uploads(outcome, locale, upload_limit)
    lines = [outcome.text.strip()] if outcome.text.strip() else []
    lines += [f"-# {note}" for note in (*outcome.notes, *notes)]
    buttons = Buttons(
        retry_turn=outcome.model_turn_id,
        original_turn=outcome.model_turn_id if outcome.images else None,
    )
    return layout("\n".join(lines), uploads, buttons, prefix)


def layout(
    content: str, uploads: Sequence[Upload], buttons: Buttons | None, prefix: str = ""
) -> list[Post]:
    """Split `content` over messages; files and buttons go with the first one."""
    chunks = split_text(content, MESSAGE_LIMIT, first_limit=MESSAGE_LIMIT - len(prefix)) or [""]
    first = Post((prefix + chunks[0]).strip(), tuple(uploads), buttons)
    return [first, *(Post(chunk) for chunk in chunks[1:])]


async def _uploads(
    outcome: Success, locale: str | None, upload_limit: int
) -> tuple[tuple[Upload, ...], list[str]]:
    # Discord limits the whole message, so several images share the limit.
    budget = upload_limit // max(1, len(outcome.images))
    uploads: list[Upload] = []
    notes: list[str] = []
    for index, image in enumerate(outcome.images, start=1):
        suffix = f"-{index}" if len(outcome.images) > 1 else ""
        name = f"result-{outcome.model_turn_id}{suffix}"
        if len(image.data) <= budget:
            uploads.append(Upload(f"{name}.{_extension(image)}", image.data))
            continue
        preview = await asyncio.to_thread(jpeg_preview, image.data, budget)
        size, limit = human_size(len(image.data)), human_size(budget)
        if preview is None:
            notes.append(texts.text("no_preview", locale, size=size))
            continue
        uploads.append(Upload(f"{name}-preview.jpg", preview))
        notes.append(texts.text("preview_note", locale, size=size, limit=limit))
    return tuple(uploads), notes


def human_size(size: int) -> str:
    """A byte count for people: "10 MB", "10.8 MB", "200 KB"."""
    if size >= MIB:
        return f"{size / MIB:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(size / 1024))} KB"


def _extension(image: ResultImage) -> str:
    return EXTENSIONS.get(image.mime_type, "png")

"""Lay an outcome out as Discord messages: text within 2000 characters, files within the limit."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from adapters.discord import catalog
from bot import messages
from bot.actions import Button
from bot.cards import Card
from bot.outcome import file_names
from bot.preview import jpeg_preview
from bot.textsplit import split_text

MESSAGE_LIMIT = 2000
DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES  # 10 MiB
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to attach; bytes are kept so a failed send can be repeated elsewhere."""

    filename: str
    data: bytes

    def file(self) -> discord.File:
        """A fresh `discord.File` (a File is consumed by one send)."""
        return discord.File(io.BytesIO(self.data), self.filename)


@dataclass(frozen=True, slots=True)
class Post:
    """One Discord message to send."""

    content: str
    uploads: tuple[Upload, ...] = ()
    buttons: tuple[Button, ...] = ()


async def compose(
    card: Card, locale: str | None, upload_limit: int, prefix: str = ""
) -> list[Post]:
    """The messages that show `card`; `prefix` (a mention) starts the first one."""
    uploads, notes = await _uploads(card, locale, upload_limit)
    lines = [card.text.strip()] if card.text.strip() else []
    lines += [f"-# {note}" for note in (*card.notes, *notes)]
    if card.sources:
        links = " · ".join(
            f"[{_link_text(s.title)}](<{s.uri}>)" for s in card.sources
        )  # <...> keeps Discord from unfurling each page into an embed
        lines.append(f"-# {messages.text('sources', locale)} {links}")
    return layout("\n".join(lines), uploads, card.buttons, prefix)


def _link_text(title: str) -> str:
    """A page title that cannot break out of a masked link's brackets."""
    cleaned = title.replace("[", "(").replace("]", ")").replace("\n", " ")[:80]
    return discord.utils.escape_markdown(cleaned)


def layout(
    content: str, uploads: Sequence[Upload], buttons: Sequence[Button] = (), prefix: str = ""
) -> list[Post]:
    """Split `content` over messages; files and buttons go with the first one."""
    chunks = split_text(content, MESSAGE_LIMIT, first_limit=MESSAGE_LIMIT - len(prefix)) or [""]
    first = Post((prefix + chunks[0]).strip(), tuple(uploads), tuple(buttons))
    return [first, *(Post(chunk) for chunk in chunks[1:])]


async def _uploads(
    card: Card, locale: str | None, upload_limit: int
) -> tuple[tuple[Upload, ...], list[str]]:
    # Discord limits the whole message, so several images share the limit.
    budget = upload_limit // max(1, len(card.images))
    uploads: list[Upload] = []
    notes: list[str] = []
    names = file_names(card.images, card.file_stem)
    for image, name in zip(card.images, names, strict=True):
        if len(image.data) <= budget:
            uploads.append(Upload(name, image.data))
            continue
        preview = await asyncio.to_thread(jpeg_preview, image.data, budget)
        size, limit = human_size(len(image.data)), human_size(budget)
        if preview is None:
            notes.append(catalog.text("no_preview", locale, size=size))
            continue
        uploads.append(Upload(f"{name.rsplit('.', 1)[0]}-preview.jpg", preview))
        notes.append(catalog.text("preview_note", locale, size=size, limit=limit))
    return tuple(uploads), notes


def human_size(size: int) -> str:
    """A byte count for people: "10 MB", "10.8 MB", "200 KB"."""
    if size >= MIB:
        return f"{size / MIB:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(size / 1024))} KB"

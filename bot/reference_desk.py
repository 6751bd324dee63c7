"""/ref: save, list and delete references, each answered with a sentence or a contact sheet.

Platforms differ only in how they ask (Telegram's `/ref save NAME` caption or reply, Discord's
options and menu); the rules live in `bot.references`, the words in `bot.messages`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot import messages, storyboard
from bot.boards import Boards
from bot.cards import Card
from bot.errors import InputRejected
from bot.explain import failure_for
from bot.intake import ImageIntake
from bot.limits import AccessPolicy
from bot.outcome import ResultImage
from bot.references import References
from bot.request import Author, ChatKey, ImageSource
from bot.store import Reference, Store

STYLE_PREVIEW_CHARS = 90  # of a style's text, in the list


class ReferenceDesk:
    """Answers /ref on every platform."""

    def __init__(
        self,
        references: References,
        store: Store,
        intake: ImageIntake,
        boards: Boards,
        access: AccessPolicy,
        max_images: int,
    ) -> None:
        self._references = references
        self._store = store
        self._intake = intake
        self._boards = boards
        self._access = access
        self._max_images = max_images

    async def save(
        self,
        chat: ChatKey,
        author: Author,
        locale: str | None,
        name: str,
        prompt: str,
        images: Sequence[ImageSource],
        reply_to: str | None,
        reply_images: Sequence[ImageSource],
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """Keep `images` (and, for a reply, the replied-to picture: a result's, or the photos
        of a message that shows no turn) and/or `prompt` as #name; the answer."""
        if not self._access.allows(chat, author):
            return messages.text("access_denied", locale)
        prompt = prompt.strip()
        try:
            scope = await self._references.admit(
                chat, author, name, private=private, chat_admin=chat_admin
            )
            shown = await self._store.resolve_link(chat, reply_to) if reply_to else None
            stored = list(shown.images) if shown is not None else []
            sources = [*images, *(reply_images if shown is None else ())]
            if not stored and not sources and not prompt:
                raise InputRejected("reference_empty")
            notes = []
            if len(stored) + len(sources) > self._max_images:
                notes.append(messages.text("reference_trimmed", locale, limit=self._max_images))
                stored = stored[: self._max_images]
                sources = sources[: self._max_images - len(stored)]
            prepared = await self._intake.prepare(sources)
            stored += [await self._store.put_image(p.data, p.mime_type) for p in prepared]
            saved = await self._references.keep(chat, author, scope, name, stored, prompt)
        except InputRejected as exc:
            return failure_for(exc, locale, None).message
        key = "reference_saved_personal" if private else "reference_saved"
        text = messages.text(key, locale, name=saved.name, what=_contents(saved, locale))
        return "\n".join([text, *notes])

    async def delete(
        self,
        chat: ChatKey,
        author: Author,
        locale: str | None,
        name: str,
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """Delete #name here; the answer."""
        if not self._access.allows(chat, author):
            return messages.text("access_denied", locale)
        try:
            deleted = await self._references.delete(
                chat, author, name, private=private, chat_admin=chat_admin
            )
        except InputRejected as exc:
            return failure_for(exc, locale, None).message
        return messages.text("reference_deleted", locale, name=deleted.name)

    async def sheet(
        self, chat: ChatKey, author: Author, locale: str | None, *, private: bool
    ) -> Card:
        """The references usable here: one contact sheet of those with pictures (the chat's,
        then, in a `private` answer, the author's own), and a line for each style and
        text-only reference."""
        if not self._access.allows(chat, author):
            return Card(messages.text("access_denied", locale))
        saved = [
            r
            for r in await self._references.saved(chat, author)
            if private or not r.scope.startswith("user:")
        ]
        pictured = [r for r in saved if r.images]
        worded = [r for r in saved if not r.images] + list(self._references.styles)
        lines = [messages.text("references_title", locale)]
        if not pictured:
            lines.append(messages.text("references_none", locale))
        lines += [
            messages.text("reference_line", locale, name=r.name, prompt=_short(r.prompt))
            for r in worded
        ]
        text = "\n".join(lines)
        if not pictured:
            return Card(text)
        thumbnails = await self._boards.thumbnails([r.images[0] for r in pictured])
        gone = messages.text("history_picture_gone", locale)
        frames = [
            storyboard.Frame(_caption(r, locale), thumbnails[r.images[0]], placeholder=gone)
            for r in pictured
        ]
        picture = await self._boards.render(frames)
        return Card(text, images=(ResultImage(picture, "image/jpeg"),), name="references")

    async def names(self, chat: ChatKey, author: Author, *, styles: bool) -> list[str]:
        """Names usable here (for autocomplete): saved ones first, then styles if asked."""
        saved = [r.name for r in await self._references.saved(chat, author)]
        return saved + ([s.name for s in self._references.styles] if styles else [])


def _contents(reference: Reference, locale: str | None) -> str:
    count = len(reference.images)
    if count and reference.prompt:
        return messages.text("reference_pictures_and_style", locale, count=count)
    if count:
        return messages.text("reference_pictures", locale, count=count)
    return messages.text("reference_style", locale)


def _caption(reference: Reference, locale: str | None) -> str:
    caption = f"#{reference.name}"
    if len(reference.images) > 1:
        caption += f" ({len(reference.images)})"
    if reference.scope.startswith("user:"):
        caption += f" · {messages.text('reference_yours', locale)}"
    return caption


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= STYLE_PREVIEW_CHARS else flat[: STYLE_PREVIEW_CHARS - 1] + "…"

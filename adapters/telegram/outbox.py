"""Post core cards into a Telegram chat: photos with captions and buttons, as replies.

Telegram recompresses photos, so a large result (2K and up, or over sendPhoto's limits) also
goes out as the lossless file, a document replying to its photo. Search sources follow as a
message of links.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
)
from telegram.constants import MessageEntityType
from telegram.error import Forbidden

from adapters.telegram.parsing import utf16_len
from adapters.telegram.sending import call, photo_preview, send_file
from adapters.telegram.status import FloodPause, StatusMessage
from bot import messages
from bot.actions import Button
from bot.cards import Card
from bot.outcome import ResultImage, Source, file_names
from bot.textsplit import split_text

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096


BUTTONS_PER_ROW = 3  # more make labels unreadable on a phone


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """A card's buttons as rows of inline buttons; the payload is the callback data."""
    if not buttons:
        return None
    inline = [InlineKeyboardButton(b.label, callback_data=b.payload) for b in buttons]
    return InlineKeyboardMarkup(
        [inline[i : i + BUTTONS_PER_ROW] for i in range(0, len(inline), BUTTONS_PER_ROW)]
    )


@dataclass(slots=True)
class Place:
    """Where a reply goes: the chat, the forum topic, and the message answered."""

    chat_id: int
    thread_id: int | None
    reply_to: int | None


def place_of(message: Message, reply_to: int | None = None) -> Place:
    """Reply in the same chat and topic; `message_thread_id` only for real topic messages."""
    thread = message.message_thread_id if message.is_topic_message else None
    return Place(message.chat.id, thread, reply_to or message.message_id)


class TelegramOutbox:
    """The engine's outbox for one Telegram request."""

    def __init__(
        self,
        bot: Bot,
        place: Place,
        locale: str | None,
        uploads: asyncio.Semaphore,
        flood: FloodPause,
    ) -> None:
        self._bot = bot
        self._place = place
        self._locale = locale
        self._uploads = uploads  # shared by the adapter: photo uploads in flight
        self._status = StatusMessage(bot, place.chat_id, place.thread_id, self._reply(), flood)

    def _reply(self, to: int | None = None) -> ReplyParameters | None:
        target = to or self._place.reply_to
        # allow_sending_without_reply: the user may have deleted the message meanwhile.
        return (
            ReplyParameters(message_id=target, allow_sending_without_reply=True)
            if target
            else None
        )

    async def status(self, card: Card) -> None:
        await self._status.show(card, keyboard(card.buttons))

    async def deliver(self, card: Card) -> Sequence[str]:
        body = "\n\n".join(part for part in (card.text, *card.notes) if part)
        markup = keyboard(card.buttons)
        try:
            if card.images:
                posted = await self._post_images(card.images, body, markup, card.file_stem)
            else:
                posted = await self._post_text(body, markup)
            if card.sources:
                posted.append(await self._post_sources(card.sources, posted[0].message_id))
        except Forbidden as exc:
            # Blocked by the user or removed from the group: nothing to tell anyone.
            log.warning("chat %s refuses messages: %s", self._place.chat_id, exc)
            return []
        finally:
            # Only now: the draft stays in view until the result is there to replace it.
            await self._status.remove()
        return [str(message.message_id) for message in posted]

    async def _post_sources(self, sources: Sequence[Source], reply_to: int) -> Message:
        """The pages the answer was grounded in, as a numbered list of links."""
        text = messages.text("sources", self._locale)
        entities = []
        for n, source in enumerate(sources, start=1):
            text += f"\n{n}. "
            title = source.title[:200]
            entities.append(
                MessageEntity(
                    MessageEntityType.TEXT_LINK, utf16_len(text), utf16_len(title), source.uri
                )
            )
            text += title
        return await call(
            lambda: self._bot.send_message(
                self._place.chat_id,
                text,
                entities=entities,
                message_thread_id=self._place.thread_id,
                reply_parameters=self._reply(reply_to),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            ),
            what="sendMessage",
        )

    async def _post_text(
        self, text: str, markup: InlineKeyboardMarkup | None, reply_to: int | None = None
    ) -> list[Message]:
        chunks = split_text(text, MESSAGE_LIMIT) or ["…"]
        posted: list[Message] = []
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            message = await call(
                lambda chunk=chunk, last=last: self._bot.send_message(  # type: ignore[misc]
                    self._place.chat_id,
                    chunk,
                    message_thread_id=self._place.thread_id,
                    reply_parameters=self._reply(reply_to),
                    reply_markup=markup if last else None,
                ),
                what="sendMessage",
            )
            posted.append(message)
        return posted

    async def _post_images(
        self,
        images: Sequence[ResultImage],
        body: str,
        markup: InlineKeyboardMarkup | None,
        stem: str,
    ) -> list[Message]:
        chunks = split_text(body, MESSAGE_LIMIT, first_limit=CAPTION_LIMIT)
        caption, rest = (chunks[0], chunks[1:]) if chunks else (None, [])
        previews = await asyncio.gather(
            *(asyncio.to_thread(photo_preview, image.data) for image in images)
        )
        names = file_names(images, stem)
        async with self._uploads:
            posted = await self._upload([p.data for p in previews], caption, rest, markup)
            for image, name, preview in zip(images, names, previews, strict=True):
                if preview.keep_file:
                    place, first = self._place, posted[0].message_id
                    file = await send_file(
                        self._bot, place.chat_id, place.thread_id, first, image, name
                    )
                    posted.append(file)
        return posted

    async def _upload(
        self,
        previews: Sequence[bytes],
        caption: str | None,
        rest: Sequence[str],
        markup: InlineKeyboardMarkup | None,
    ) -> list[Message]:
        if len(previews) == 1:
            photo = await call(
                lambda: self._bot.send_photo(
                    self._place.chat_id,
                    previews[0],
                    caption=caption,
                    message_thread_id=self._place.thread_id,
                    reply_parameters=self._reply(),
                    reply_markup=markup,
                ),
                what="sendPhoto",
            )
            posted = [photo]
            if rest:
                posted += await self._post_text("\n\n".join(rest), None, photo.message_id)
            return posted
        # Albums cannot carry buttons: the text (and the buttons) follow as a message.
        album = await call(
            lambda: self._bot.send_media_group(
                self._place.chat_id,
                [InputMediaPhoto(data) for data in previews],
                caption=caption,
                message_thread_id=self._place.thread_id,
                reply_parameters=self._reply(),
            ),
            what="sendMediaGroup",
        )
        follow = "\n\n".join(rest) or "⬆️"
        return [*album, *await self._post_text(follow, markup, album[0].message_id)]

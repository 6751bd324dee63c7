"""Post core cards into a Telegram chat: photos with captions and buttons, as replies."""

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
    Message,
    ReplyParameters,
)
from telegram.error import Forbidden, TelegramError

from adapters.telegram.sending import call, photo_preview
from bot import messages
from bot.actions import Button
from bot.cards import Card
from bot.outcome import ResultImage
from bot.textsplit import split_text

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """A card's buttons as one row of inline buttons; the payload is the callback data."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in buttons]]
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
        self, bot: Bot, place: Place, locale: str | None, uploads: asyncio.Semaphore
    ) -> None:
        self._bot = bot
        self._place = place
        self._locale = locale
        self._uploads = uploads  # shared by the adapter: photo uploads in flight
        self._status: Message | None = None

    def _reply(self, to: int | None = None) -> ReplyParameters | None:
        target = to or self._place.reply_to
        # allow_sending_without_reply: the user may have deleted the message meanwhile.
        return (
            ReplyParameters(message_id=target, allow_sending_without_reply=True)
            if target
            else None
        )

    async def queued(self, position: int) -> None:
        text = messages.text("queued", self._locale, position=position)
        try:
            self._status = await self._bot.send_message(
                self._place.chat_id,
                text,
                message_thread_id=self._place.thread_id,
                reply_parameters=self._reply(),
            )
        except TelegramError as exc:
            log.info("could not post the queue position: %s", exc)

    async def _clear_status(self) -> None:
        if self._status is not None:
            status, self._status = self._status, None
            try:
                await self._bot.delete_message(status.chat_id, status.message_id)
            except TelegramError as exc:
                log.debug("could not remove the status message: %s", exc)

    async def deliver(self, card: Card) -> Sequence[str]:
        await self._clear_status()
        body = "\n\n".join(part for part in (card.text, *card.notes) if part)
        markup = keyboard(card.buttons)
        try:
            if card.images:
                posted = await self._post_images(card.images, body, markup)
            else:
                posted = await self._post_text(body, markup)
        except Forbidden as exc:
            # Blocked by the user or removed from the group: nothing to tell anyone.
            log.warning("chat %s refuses messages: %s", self._place.chat_id, exc)
            return []
        return [str(message.message_id) for message in posted]

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
        self, images: Sequence[ResultImage], body: str, markup: InlineKeyboardMarkup | None
    ) -> list[Message]:
        chunks = split_text(body, MESSAGE_LIMIT, first_limit=CAPTION_LIMIT)
        caption, rest = (chunks[0], chunks[1:]) if chunks else (None, [])
        previews = await asyncio.gather(
            *(asyncio.to_thread(photo_preview, image.data) for image in images)
        )
        async with self._uploads:
            return await self._upload(previews, caption, rest, markup)

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

"""A step's status message on Telegram: the queue position, then the model's drafts, with Stop.

Status updates are cosmetic, so each is one attempt: when Telegram asks to slow down, that
chat's status updates pause for as long as it asked, while results keep their own retries.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message, ReplyParameters
from telegram.error import RetryAfter, TelegramError

from adapters.telegram.sending import retry_after_seconds
from bot.cards import Card
from bot.outcome import ResultImage

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024


class FloodPause:
    """Chats whose status updates wait because Telegram answered 429 (shared by outboxes)."""

    def __init__(self) -> None:
        self._until: dict[int, float] = {}

    def paused(self, chat_id: int) -> bool:
        until = self._until.get(chat_id)
        if until is None:
            return False
        if until <= asyncio.get_running_loop().time():
            del self._until[chat_id]
            return False
        return True

    def pause(self, chat_id: int, seconds: float) -> None:
        self._until[chat_id] = asyncio.get_running_loop().time() + seconds


class StatusMessage:
    """The one status message of a step in a chat: posted once, edited, removed at the end."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        thread_id: int | None,
        reply: ReplyParameters | None,
        flood: FloodPause,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._thread_id = thread_id
        self._reply = reply
        self._flood = flood
        self._message: Message | None = None
        self._image: ResultImage | None = None
        self._text = ""

    async def show(self, card: Card, markup: InlineKeyboardMarkup | None) -> None:
        """Show `card` (text, at most one image, buttons); never raises."""
        if self._flood.paused(self._chat_id):
            return
        try:
            await self._show(card, markup)
        except RetryAfter as exc:
            self._flood.pause(self._chat_id, retry_after_seconds(exc))
            log.info("telegram: status updates in %s wait for flood control", self._chat_id)
        except TelegramError as exc:
            log.info("telegram: could not show a step's status: %s", exc)

    async def _show(self, card: Card, markup: InlineKeyboardMarkup | None) -> None:
        image = card.images[0] if card.images else None
        text = card.text[:CAPTION_LIMIT]
        message = self._message
        if message is None:
            if image is not None:
                message = await self._bot.send_photo(
                    self._chat_id,
                    image.data,
                    caption=text,
                    message_thread_id=self._thread_id,
                    reply_parameters=self._reply,
                    reply_markup=markup,
                )
            else:
                message = await self._bot.send_message(
                    self._chat_id,
                    text,
                    message_thread_id=self._thread_id,
                    reply_parameters=self._reply,
                    reply_markup=markup,
                )
        elif image is not None and image != self._image:
            # Since Bot API 7.11 this also turns the queue's text message into the draft.
            edited = await self._bot.edit_message_media(
                InputMediaPhoto(image.data, caption=text),
                self._chat_id,
                message.message_id,
                reply_markup=markup,
            )
            message = edited if isinstance(edited, Message) else message
        elif text != self._text:
            if message.photo:
                edited = await self._bot.edit_message_caption(
                    self._chat_id, message.message_id, caption=text, reply_markup=markup
                )
            else:
                edited = await self._bot.edit_message_text(
                    text, self._chat_id, message.message_id, reply_markup=markup
                )
            message = edited if isinstance(edited, Message) else message
        self._message, self._image, self._text = message, image, text

    async def remove(self) -> None:
        """Delete the status message, if one was posted (best effort)."""
        message, self._message = self._message, None
        if message is None:
            return
        try:
            await self._bot.delete_message(message.chat_id, message.message_id)
        except TelegramError as exc:
            log.debug("telegram: could not remove a status message: %s", exc)

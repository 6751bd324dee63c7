"""Post engine outcomes into a Telegram chat: photos with captions and buttons, as replies."""

from __future__ import annotations

import asyncio
import dataclasses
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
from bot.outcome import Failure, FailureKind, Outcome, Success
from bot.textsplit import split_text

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
RETRY_PREFIX = "r:"
ORIGINAL_PREFIX = "o:"


def result_buttons(turn_id: int, locale: str | None, *, original: bool) -> InlineKeyboardMarkup:
    """Retry (and Original) buttons; their callback data is all the state they need."""
    row = [
        InlineKeyboardButton(messages.text("retry_button", locale), callback_data=f"r:{turn_id}")
    ]
    if original:
        row.append(
            InlineKeyboardButton(
                messages.text("original_button", locale), callback_data=f"o:{turn_id}"
            )
        )
    return InlineKeyboardMarkup([row])


@dataclass(slots=True)
class Place:
    """Where a reply goes: the chat, the forum topic, and the message answered."""

    chat_id: int
    thread_id: int | None
    reply_to: int | None


class TelegramOutbox:
    """The engine's outbox for one Telegram request.

    `notes` are the adapter's own remarks on how it read the request (a GIF's still frame
    stood in for it); they join the core's notes on a result, or the "tell me what to do".
    """

    def __init__(
        self,
        bot: Bot,
        place: Place,
        locale: str | None,
        uploads: asyncio.Semaphore,
        notes: tuple[str, ...] = (),
    ) -> None:
        self._bot = bot
        self._place = place
        self._locale = locale
        self._uploads = uploads  # shared by the adapter: photo uploads in flight
        self._notes = notes
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

    def _with_notes(self, outcome: Outcome) -> Outcome:
        if not self._notes:
            return outcome
        if isinstance(outcome, Success):
            return dataclasses.replace(outcome, notes=(*outcome.notes, *self._notes))
        if outcome.kind is FailureKind.NEED_INSTRUCTION:  # the picture was taken: say how
            return dataclasses.replace(
                outcome, message="\n\n".join((outcome.message, *self._notes))
            )
        return outcome

    async def deliver(self, outcome: Outcome) -> Sequence[str]:
        await self._clear_status()
        outcome = self._with_notes(outcome)
        try:
            if isinstance(outcome, Failure):
                posted = await self._post_failure(outcome)
            elif outcome.images:
                posted = await self._post_images(outcome)
            else:
                posted = await self._post_text(
                    outcome.text,
                    result_buttons(outcome.model_turn_id, self._locale, original=False),
                )
        except Forbidden as exc:
            # Blocked by the user or removed from the group: nothing to tell anyone.
            log.warning("chat %s refuses messages: %s", self._place.chat_id, exc)
            return []
        return [str(message.message_id) for message in posted]

    async def _post_failure(self, failure: Failure) -> list[Message]:
        markup = (
            result_buttons(failure.user_turn_id, self._locale, original=False)
            if failure.retryable and failure.user_turn_id is not None
            else None
        )
        return await self._post_text(failure.message, markup)

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

    async def _post_images(self, success: Success) -> list[Message]:
        body = "\n\n".join(part for part in (success.text, *success.notes) if part)
        chunks = split_text(body, MESSAGE_LIMIT, first_limit=CAPTION_LIMIT)
        caption, rest = (chunks[0], chunks[1:]) if chunks else (None, [])
        markup = result_buttons(success.model_turn_id, self._locale, original=True)
        previews = await asyncio.gather(
            *(asyncio.to_thread(photo_preview, image.data) for image in success.images)
        )
        async with self._uploads:
            return await self._upload(previews, caption, rest, markup)

    async def _upload(
        self,
        previews: Sequence[bytes],
        caption: str | None,
        rest: Sequence[str],
        markup: InlineKeyboardMarkup,
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

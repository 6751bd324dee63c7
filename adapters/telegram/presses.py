"""Answer a button press on Telegram: the core's `PressReply` for one callback query."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from telegram.error import TelegramError

from adapters.telegram.outbox import Place, TelegramOutbox, place_of
from adapters.telegram.sending import ChatActions, answer_query, call, send_file
from bot.actions import Button
from bot.outcome import ResultImage, file_names

log = logging.getLogger(__name__)

CHOICES_PER_ROW = 5  # short labels (aspect ratios) fit five to a row


def place_for_button(query: CallbackQuery) -> Place:
    """Where an answer to a press goes: a reply to the user's message the result answers."""
    message = query.message
    assert message is not None
    if isinstance(message, Message):
        user_message = message.reply_to_message
        reply_to = user_message.message_id if user_message else message.message_id
        return place_of(message, reply_to)
    return Place(message.chat.id, None, None)


class TelegramPress:
    """One callback query's answers to the core."""

    def __init__(
        self,
        bot: Bot,
        query: CallbackQuery,
        actions: ChatActions,
        outbox_for: Callable[[Place], TelegramOutbox],
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> None:
        self._bot = bot
        self._query = query
        self._actions = actions
        self._outbox_for = outbox_for
        self._chat_admin = chat_admin
        self._answered = False
        self._stack = contextlib.AsyncExitStack()

    async def acknowledge(self) -> None:
        if not self._answered:
            self._answered = True
            await answer_query(self._query)

    async def notify(self, text: str) -> None:
        if not self._answered:
            self._answered = True
            await answer_query(self._query, text, alert=True)
            return
        # A press is answered once; later news goes to the chat instead.
        place = place_for_button(self._query)
        await call(
            lambda: self._bot.send_message(
                place.chat_id,
                text,
                message_thread_id=place.thread_id,
                reply_parameters=_reply_to(place.reply_to),
            ),
            what="sendMessage",
        )

    async def outbox(self) -> TelegramOutbox:
        place = place_for_button(self._query)
        await self._stack.enter_async_context(
            self._actions.showing(place.chat_id, place.thread_id)
        )
        return self._outbox_for(place)

    async def send_files(self, images: Sequence[ResultImage], caption: str, stem: str) -> None:
        message = self._query.message
        assert message is not None
        thread_id = (
            message.message_thread_id
            if isinstance(message, Message) and message.is_topic_message
            else None
        )
        for image, name in zip(images, file_names(images, stem), strict=True):
            await send_file(
                self._bot, message.chat.id, thread_id, message.message_id, image, name, caption
            )

    async def choose(self, prompt: str, options: Sequence[Button]) -> None:
        # The choices join the pressed message's keyboard; pressed again, they are replaced.
        await answer_query(self._query, prompt)
        self._answered = True
        message = self._query.message
        markup = message.reply_markup if isinstance(message, Message) else None
        payloads = {o.payload for o in options}
        rows = [
            list(row)
            for row in (markup.inline_keyboard if markup else ())
            if not any(b.callback_data in payloads for b in row)
        ]
        chosen = [InlineKeyboardButton(o.label, callback_data=o.payload) for o in options]
        rows += [chosen[i : i + CHOICES_PER_ROW] for i in range(0, len(chosen), CHOICES_PER_ROW)]
        try:
            await self._query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
        except TelegramError as exc:
            log.info("telegram: could not offer a choice: %s", exc)

    async def presser_is_chat_admin(self) -> bool:
        return await self._chat_admin()

    async def finish(self) -> None:
        await self._stack.aclose()
        await self.acknowledge()  # stops the button's spinner if nothing answered yet

    async def replace(self, text: str) -> None:
        try:
            await self._query.edit_message_text(text)
        except TelegramError as exc:
            log.info("telegram: could not replace the pressed message: %s", exc)


def _reply_to(message_id: int | None) -> ReplyParameters | None:
    # allow_sending_without_reply: the message may have been deleted meanwhile.
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)

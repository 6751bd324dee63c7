"""The /settings inline menu: one message edited in place, all state in callback data."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest

from adapters.telegram import strings
from adapters.telegram.sending import answer_query
from bot.engine import Engine
from bot.errors import InputRejected
from bot.request import ChatKey

log = logging.getLogger(__name__)

SETTINGS_PREFIX = "s:"
MAX_CALLBACK_BYTES = 64
KEYS = ("aspect_ratio", "image_size", "model", "language")
RESET = "-"


def _button(label: str, data: str) -> InlineKeyboardButton | None:
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        log.warning("settings choice %r does not fit in callback data", data)
        return None
    return InlineKeyboardButton(label, callback_data=data)


class SettingsMenu:
    """Shows and applies per-chat settings."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _main(self, chat: ChatKey, locale: str | None) -> tuple[str, InlineKeyboardMarkup]:
        current = await self._engine.chat_settings(chat)
        choices = await self._engine.setting_choices(chat)
        default = strings.text("settings_default", locale)
        rows = [
            [
                InlineKeyboardButton(
                    f"{strings.text(key, locale)}: {current.get(key, default)}",
                    callback_data=f"s:k:{key}",
                )
            ]
            for key in KEYS
            if choices[key]  # a model with one size has nothing to choose
        ]
        return strings.text("settings_title", locale), InlineKeyboardMarkup(rows)

    async def show(self, message: Message, chat: ChatKey, locale: str | None) -> None:
        """Post the menu as a reply."""
        text, markup = await self._main(chat, locale)
        await message.reply_text(text, reply_markup=markup, do_quote=True)

    async def press(self, query: CallbackQuery, chat: ChatKey, locale: str | None) -> None:
        """Handle a menu button."""
        parts = (query.data or "").split(":", 3)
        if len(parts) >= 3 and parts[1] == "k" and parts[2] in KEYS:
            await answer_query(query)
            await self._edit(
                query,
                *self._choices_view(parts[2], await self._engine.setting_choices(chat), locale),
            )
            return
        if len(parts) == 4 and parts[1] == "v" and parts[2] in KEYS:
            value = None if parts[3] == RESET else parts[3]
            try:
                await self._engine.change_setting(chat, parts[2], value)
            except InputRejected:
                await answer_query(query)
            else:
                await answer_query(query, strings.text("settings_saved", locale))
        else:
            await answer_query(query)
        await self._edit(query, *await self._main(chat, locale))

    def _choices_view(
        self, key: str, choices: dict[str, tuple[str, ...]], locale: str | None
    ) -> tuple[str, InlineKeyboardMarkup]:
        buttons = [
            b
            for value in (*choices[key], RESET)
            if (
                b := _button(
                    strings.text("settings_default", locale) if value == RESET else value,
                    f"s:v:{key}:{value}",
                )
            )
        ]
        rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
        rows.append([InlineKeyboardButton(strings.text("back", locale), callback_data="s:m")])
        return strings.text(key, locale), InlineKeyboardMarkup(rows)

    async def _edit(self, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
        try:
            await query.edit_message_text(text, reply_markup=markup)
        except BadRequest as exc:
            # "message is not modified" when the same button is pressed twice: harmless.
            log.debug("settings menu not edited: %s", exc)

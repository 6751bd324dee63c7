"""The /settings inline menu: one message edited in place, all state in callback data.

The settings themselves (keys, labels, choices, validation) are the core's; this module only
lays them out as buttons that fit Telegram's 64-byte callback data.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest

from adapters.telegram import catalog
from adapters.telegram.sending import answer_query
from bot.chat_settings import KEYS, RESET, ChatSettings
from bot.errors import InputRejected
from bot.explain import setting_label
from bot.request import ChatKey

log = logging.getLogger(__name__)

SETTINGS_PREFIX = "s:"
MAX_CALLBACK_BYTES = 64
LEGACY_RESET = "-"  # what menus posted by earlier versions send for "default"


def _button(label: str, data: str) -> InlineKeyboardButton | None:
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        log.warning("settings choice %r does not fit in callback data", data)
        return None
    return InlineKeyboardButton(label, callback_data=data)


class SettingsMenu:
    """Shows and applies per-chat settings."""

    def __init__(self, settings: ChatSettings) -> None:
        self._settings = settings

    async def _main(self, chat: ChatKey, locale: str | None) -> tuple[str, InlineKeyboardMarkup]:
        rows = [
            [InlineKeyboardButton(f"{line.label}: {line.shown}", callback_data=f"s:k:{line.key}")]
            for line in await self._settings.lines(chat, locale)
            if line.choices  # a model with one size has nothing to choose
        ]
        return catalog.text("settings_title", locale), InlineKeyboardMarkup(rows)

    async def show(self, message: Message, chat: ChatKey, locale: str | None) -> None:
        """Post the menu as a reply."""
        text, markup = await self._main(chat, locale)
        await message.reply_text(text, reply_markup=markup, do_quote=True)

    async def press(self, query: CallbackQuery, chat: ChatKey, locale: str | None) -> None:
        """Handle a menu button."""
        parts = (query.data or "").split(":", 3)
        if len(parts) >= 3 and parts[1] == "k" and parts[2] in KEYS:
            await answer_query(query)
            await self._edit(query, *await self._choices_view(chat, parts[2], locale))
            return
        if len(parts) == 4 and parts[1] == "v" and parts[2] in KEYS:
            value = RESET if parts[3] == LEGACY_RESET else parts[3]
            try:
                await self._settings.apply(chat, {parts[2]: value})
            except InputRejected:
                await answer_query(query)
            else:
                await answer_query(query, catalog.text("settings_saved", locale))
        else:
            await answer_query(query)
        await self._edit(query, *await self._main(chat, locale))

    async def _choices_view(
        self, chat: ChatKey, key: str, locale: str | None
    ) -> tuple[str, InlineKeyboardMarkup]:
        choices = (await self._settings.choices(chat))[key]
        default = catalog.text("setting_default", locale)
        buttons = [
            b
            for value in (*choices, RESET)
            if (b := _button(default if value == RESET else value, f"s:v:{key}:{value}"))
        ]
        rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
        rows.append([InlineKeyboardButton(catalog.text("back", locale), callback_data="s:m")])
        return setting_label(key, locale), InlineKeyboardMarkup(rows)

    async def _edit(self, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
        try:
            await query.edit_message_text(text, reply_markup=markup)
        except BadRequest as exc:
            # "message is not modified" when the same button is pressed twice: harmless.
            log.debug("settings menu not edited: %s", exc)

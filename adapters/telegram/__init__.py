"""Telegram adapter (python-telegram-bot): private chats, groups, topics, albums, buttons."""

from __future__ import annotations

import os

from bot.config import Settings
from bot.engine_port import EnginePort


def create(engine: EnginePort, settings: Settings) -> object:
    """Build the adapter from the config (imports PTB only when Telegram is enabled)."""
    # PTB builds RetryAfter with an int and a deprecation warning unless this is set.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    from adapters.telegram.adapter import TelegramAdapter  # noqa: PLC0415 - lazy by design

    return TelegramAdapter(engine, settings.telegram)

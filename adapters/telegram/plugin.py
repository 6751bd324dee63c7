"""The Telegram adapter plugin (entry point `telegram` in `bananabot.adapters`).

Cheap to import: python-telegram-bot is imported only when the adapter is created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from adapters.telegram.config import SECTION, SETUP_HINT, TelegramSettings, parse_telegram
from bot.config import Section, Settings

if TYPE_CHECKING:
    from adapters.telegram.adapter import TelegramAdapter
    from bot.engine_port import EnginePort
    from bot.plugins import AdapterPlugin


class TelegramPlugin:
    """Private chats, groups, topics, albums and buttons over the Bot API."""

    name = SECTION
    noisy_loggers = ("telegram.ext",)
    setup_hint = SETUP_HINT

    def parse(self, section: Section, env: Mapping[str, str]) -> TelegramSettings:
        """Read [telegram]."""
        return parse_telegram(section, env)

    def create(self, engine: EnginePort, settings: Settings) -> TelegramAdapter:
        """Build the adapter, importing PTB now."""
        # PTB builds RetryAfter with an int and a deprecation warning unless this is set.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        from adapters.telegram.adapter import TelegramAdapter  # noqa: PLC0415 - lazy by design

        return TelegramAdapter(engine, settings.plugin(SECTION, TelegramSettings))


plugin: AdapterPlugin = TelegramPlugin()

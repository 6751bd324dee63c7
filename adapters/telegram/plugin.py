"""The Telegram adapter plugin (entry point `telegram` in `bananabot.adapters`).

Cheap to import: python-telegram-bot is imported only when the adapter is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from adapters.telegram.config import SECTION, SETUP_HINT, TelegramSettings, parse_telegram
from bot.config import Settings
from bot.plugins import Adapter, AdapterPlugin, DeclaredAdapter

if TYPE_CHECKING:
    from bot.engine_port import EnginePort


def _build(engine: EnginePort, settings: Settings) -> Adapter:
    # PTB builds RetryAfter with an int and a deprecation warning unless this is set.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    from adapters.telegram.adapter import TelegramAdapter  # noqa: PLC0415 - lazy by design

    return TelegramAdapter(engine, settings.plugin(SECTION, TelegramSettings))


plugin: AdapterPlugin = DeclaredAdapter(
    SECTION, parse_telegram, _build, SETUP_HINT, noisy_loggers=("telegram.ext",)
)

"""The Discord adapter plugin (entry point `discord` in `bananabot.adapters`).

Cheap to import: discord.py is imported only when the adapter is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.discord.config import SECTION, SETUP_HINT, parse_discord
from bot.config import Settings
from bot.plugins import Adapter, AdapterPlugin, DeclaredAdapter

if TYPE_CHECKING:
    from bot.engine_port import EnginePort


def _build(engine: EnginePort, settings: Settings) -> Adapter:
    from adapters.discord.adapter import DiscordAdapter  # noqa: PLC0415 - lazy by design

    return DiscordAdapter(engine, settings)


plugin: AdapterPlugin = DeclaredAdapter(
    SECTION, parse_discord, _build, SETUP_HINT, noisy_loggers=("discord",)
)

"""The Discord adapter plugin (entry point `discord` in `bananabot.adapters`).

Cheap to import: discord.py is imported only when the adapter is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from adapters.discord.config import SECTION, SETUP_HINT, DiscordSettings, parse_discord
from bot.config import Section, Settings

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter
    from bot.engine_port import EnginePort
    from bot.plugins import AdapterPlugin


class DiscordPlugin:
    """Slash commands, the Edit image menu, replies and persistent buttons."""

    name = SECTION
    noisy_loggers = ("discord",)
    setup_hint = SETUP_HINT

    def parse(self, section: Section, env: Mapping[str, str]) -> DiscordSettings:
        """Read [discord]."""
        return parse_discord(section, env)

    def create(self, engine: EnginePort, settings: Settings) -> DiscordAdapter:
        """Build the adapter, importing discord.py now."""
        from adapters.discord.adapter import DiscordAdapter  # noqa: PLC0415 - lazy by design

        return DiscordAdapter(engine, settings)


plugin: AdapterPlugin = DiscordPlugin()

"""Discord adapter: slash commands, the Edit image menu, replies and persistent buttons.

`bot.app` loads this package by name and calls `create(engine, settings)`.
"""

from __future__ import annotations

from adapters.discord.adapter import DiscordAdapter
from bot.config import Settings
from bot.engine_port import EnginePort

__all__ = ["DiscordAdapter", "create"]


def create(engine: EnginePort, settings: Settings) -> DiscordAdapter:
    """Build the Discord adapter for `engine`."""
    return DiscordAdapter(engine, settings)

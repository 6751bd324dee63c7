"""Discord adapter: slash commands, the Edit image menu, replies and persistent buttons.

`bot.app` finds it through the `discord` entry point (`adapters.discord.plugin:plugin`). This
package stays cheap to import: `DiscordAdapter` (and discord.py with it) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]


def __getattr__(name: str) -> object:
    """Import `DiscordAdapter` (and discord.py) only when someone asks for it."""
    if name == "DiscordAdapter":
        from adapters.discord.adapter import DiscordAdapter  # noqa: PLC0415 - lazy by design

        return DiscordAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

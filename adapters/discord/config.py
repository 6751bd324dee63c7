"""The [discord] section: REST and gateway endpoints, the token, intents, threads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Section

SECTION = "discord"
DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"
SETUP_HINT = (
    'Discord:  DISCORD_BOT_TOKEN=...    or  [discord] token = "..."    (Developer Portal > Bot)'
)


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """Discord REST and gateway connection."""

    token: str = ""
    api_base_url: str = DISCORD_API
    gateway_url: str = DISCORD_GATEWAY
    message_content_intent: bool = True
    auto_thread: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token,)


def parse_discord(section: Section, env: Mapping[str, str]) -> DiscordSettings:
    """Read and check the [discord] section; the environment wins for the token."""
    return DiscordSettings(
        token=section.secret("token", env, "DISCORD_BOT_TOKEN"),
        api_base_url=section.url("api_base_url", DISCORD_API, ("http://", "https://")).rstrip("/"),
        gateway_url=section.url("gateway_url", DISCORD_GATEWAY, ("ws://", "wss://")),
        message_content_intent=section.flag("message_content_intent", True),
        auto_thread=section.flag("auto_thread", False),
    )

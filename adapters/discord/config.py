"""The [discord] section: REST and gateway endpoints, the token, intents, threads, shards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Section
from bot.errors import ConfigError

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
    shard_count: int | None = None
    """Shards across all instances; None: one unsharded connection, as before sharding."""
    shard_ids: tuple[int, ...] | None = None
    """The shards this instance runs; None: all of `shard_count`."""

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def syncs_commands(self) -> bool:
        """Whether this instance syncs application commands: only the one running shard 0."""
        return self.shard_ids is None or 0 in self.shard_ids

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token,)


def parse_discord(section: Section, env: Mapping[str, str]) -> DiscordSettings:
    """Read and check the [discord] section; the environment wins for the token."""
    shard_count = section.optional_int("shard_count")  # >= 1 when set
    return DiscordSettings(
        token=section.secret("token", env, "DISCORD_BOT_TOKEN"),
        api_base_url=section.url("api_base_url", DISCORD_API, ("http://", "https://")).rstrip("/"),
        gateway_url=section.url("gateway_url", DISCORD_GATEWAY, ("ws://", "wss://")),
        message_content_intent=section.flag("message_content_intent", True),
        auto_thread=section.flag("auto_thread", False),
        shard_count=shard_count,
        shard_ids=_shard_ids(section, shard_count),
    )


def _shard_ids(section: Section, shard_count: int | None) -> tuple[int, ...] | None:
    """Read `shard_ids`: distinct shard numbers below `shard_count`, at least one."""
    key, name = "shard_ids", f"{section.name}.shard_ids"
    section.used.add(key)
    if key not in section.table:
        return None
    value = section.table[key]
    # An empty list would make discord.py run every shard: refuse it rather than duplicate work.
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        raise ConfigError(name, f"expected a non-empty list of shard numbers, got {value!r}")
    if shard_count is None:
        raise ConfigError(
            name, f"needs {section.name}.shard_count, the number of shards across all instances"
        )
    if len(set(value)) != len(value):
        raise ConfigError(name, f"lists a shard twice: {value!r}")
    outside = [v for v in value if not 0 <= v < shard_count]
    if outside:
        raise ConfigError(
            name,
            f"shard {outside[0]} is out of range 0..{shard_count - 1} "
            f"(shard_count = {shard_count})",
        )
    return tuple(value)

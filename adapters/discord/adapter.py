"""The Discord adapter's lifecycle: build the client, serve until asked to stop, close cleanly.

Fatal refusals (a bad token, a privileged intent not enabled in the Developer Portal) end `run`
with a `ConfigError` naming the config key to fix: the process stops instead of reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from adapters.discord.boundary import Guard
from adapters.discord.chat_commands import ChatCommands
from adapters.discord.client import BananaClient, ShardedBananaClient
from adapters.discord.config import SECTION, DiscordSettings
from adapters.discord.conversation import Conversation
from adapters.discord.steps import InteractionSteps
from bot.config import Settings
from bot.engine_port import EnginePort
from bot.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_GUILD_READY_TIMEOUT_S = 2.0  # discord.py's default wait after the last GUILD_CREATE
CLOSE_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 5.0  # running steps may finish within this; the rest are cancelled

INTENT_REFUSED = (
    "Discord refused the privileged Message Content intent (gateway close code 4014). Enable "
    '"Message Content Intent" under Bot > Privileged Gateway Intents in the Discord Developer '
    "Portal, or set discord.message_content_intent = false to run without it"
)
SHARDING_REQUIRED_CODE = 4011  # gateway close: this session would hold too many guilds
SHARDING_REQUIRED = (
    "Discord requires more shards (gateway close code 4011): set discord.shard_count on every "
    "instance (GET /gateway/bot recommends a count) and give each its discord.shard_ids"
)
TOKEN_REFUSED = "Discord rejected the bot token; check discord.token or DISCORD_BOT_TOKEN"
WITHOUT_CONTENT = (
    "discord.message_content_intent is false: /edit, /imagine, the Edit image menu, buttons, "
    "DMs and messages that mention the bot (including replies that ping it) work; replies with "
    "the ping turned off and plain channel messages are not seen"
)


@contextlib.contextmanager
def discord_endpoints(settings: DiscordSettings) -> Iterator[None]:
    """Point discord.py's REST base and gateway at the configured URLs; restore them after."""
    # discord.py reads both from class attributes; there is no per-client setting.
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = settings.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """The gateway intents: defaults, plus Message Content when configured."""
    intents = discord.Intents.default()
    intents.message_content = settings.message_content_intent
    return intents


class DiscordAdapter:
    """Serves Discord for one engine until asked to stop."""

    def __init__(
        self,
        engine: EnginePort,
        settings: Settings,
        *,
        guild_ready_timeout: float = DEFAULT_GUILD_READY_TIMEOUT_S,
        shutdown_grace: float = SHUTDOWN_GRACE_S,
    ) -> None:
        self._engine = engine
        self._settings = settings.plugin(SECTION, DiscordSettings)
        self._max_prompt_chars = settings.limits.max_prompt_chars
        self._guild_ready_timeout = guild_ready_timeout
        self._shutdown_grace = shutdown_grace
        self.ready = asyncio.Event()
        """Set once connected and the guilds are known (tests wait on it)."""
        self._running: discord.Client | None = None

    @property
    def connected(self) -> bool:
        """Ready, and the gateway connection is open (not closed, not reconnecting)."""
        client = self._running
        if client is None or not self.ready.is_set() or client.is_closed():
            return False
        if isinstance(client, discord.AutoShardedClient):
            return all(not shard.is_closed() for shard in client.shards.values())
        # discord.py keeps the last socket in `ws` while it reconnects: check it is open.
        return client.ws is not None and client.ws.open

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; raise `ConfigError` when Discord refuses us for good."""
        if not self._settings.message_content_intent:
            log.warning(WITHOUT_CONTENT)
        guard = Guard()
        client = self._client(guard)
        self._running = client
        with discord_endpoints(self._settings):
            try:
                async with client:
                    await self._serve(client, guard, stop)
            except discord.LoginFailure as exc:
                log.error(TOKEN_REFUSED)
                raise ConfigError("discord.token", TOKEN_REFUSED) from exc
            except discord.PrivilegedIntentsRequired as exc:
                log.error(INTENT_REFUSED)
                raise ConfigError("discord.message_content_intent", INTENT_REFUSED) from exc
            except discord.ConnectionClosed as exc:
                if exc.code != SHARDING_REQUIRED_CODE:
                    raise
                log.error(SHARDING_REQUIRED)
                raise ConfigError("discord.shard_count", SHARDING_REQUIRED) from exc
            finally:
                self.ready.clear()
                self._running = None
        log.info("Discord adapter stopped")

    def _client(self, guard: Guard) -> BananaClient:
        """One gateway connection unless `shard_count` is set, as bots had before sharding.

        Unset, we do not let AutoShardedClient pick a count from GET /gateway/bot: several
        instances would each run every shard and answer every message once per instance.
        """
        engine, settings = self._engine, self._settings
        kind: type[BananaClient] = BananaClient
        sharding: dict[str, Any] = {}
        if settings.shard_count is not None:
            kind = ShardedBananaClient
            ids = list(settings.shard_ids) if settings.shard_ids is not None else None
            sharding = {"shard_count": settings.shard_count, "shard_ids": ids}
        return kind(
            engine=engine,
            intents=intents_for(settings),
            guild_ready_timeout=self._guild_ready_timeout,
            conversation=Conversation(engine, settings, guard),
            steps=InteractionSteps(engine, settings, guard, self._max_prompt_chars),
            chat_commands=ChatCommands(engine, settings, guard),
            guard=guard,
            ready=self.ready,
            syncs_commands=settings.syncs_commands,
            **sharding,
        )

    async def _serve(self, client: BananaClient, guard: Guard, stop: asyncio.Event) -> None:
        start = asyncio.create_task(client.start(self._settings.token), name="discord-client")
        stopping = asyncio.create_task(stop.wait(), name="discord-stop")
        try:
            await asyncio.wait({start, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if start.done():
                start.result()  # a fatal refusal raises here
                raise RuntimeError("the Discord client stopped without being asked to")
        finally:
            stopping.cancel()
            await guard.drain(self._shutdown_grace)
            await client.close()
            await _finish(start)


async def _finish(start: asyncio.Task[None]) -> None:
    """Let the client task end after close(); cancel it if it does not."""
    if not start.done():
        await asyncio.wait({start}, timeout=CLOSE_TIMEOUT_S)
    if not start.done():
        start.cancel()
        await asyncio.wait({start})
    if not start.cancelled() and start.exception() is not None:
        # Already raised above when it was fatal; after close() it is shutdown noise.
        log.debug("Discord client ended with %r", start.exception())

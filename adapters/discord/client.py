"""The discord.py client: events in; commands and persistent buttons registered at start-up.

`BananaClient` holds one gateway connection; `ShardedBananaClient` is the same bot over
discord.py's `AutoShardedClient`, for `[discord] shard_count` (see `adapter.DiscordAdapter`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord import catalog
from adapters.discord.boundary import Guard, describe_error
from adapters.discord.chat_commands import ChatCommands
from adapters.discord.commands import register_commands
from adapters.discord.conversation import Conversation
from adapters.discord.event_parsing import Parser, skip_unparsable
from adapters.discord.outbox import NO_PINGS, ChannelOutbox
from adapters.discord.parsing import PLATFORM
from adapters.discord.presses import PressRouter
from adapters.discord.references import ReferenceCommands
from adapters.discord.steps import InteractionSteps
from adapters.discord.views import ActionButton, ActionChoice, PressHandler, is_our_button
from bot import messages
from bot.engine_port import EnginePort
from bot.request import ChatKey

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]


class CommandTree(app_commands.CommandTree[discord.Client]):
    """A command tree whose library-level errors (bad options ...) go through the boundary."""

    def __init__(self, client: discord.Client, guard: Guard) -> None:
        super().__init__(client)
        self._guard = guard

    async def on_error(
        self, interaction: Interaction, error: app_commands.AppCommandError
    ) -> None:
        if interaction.type is discord.InteractionType.autocomplete:
            await _no_choices(interaction, error)
            return
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            # Registered by an earlier version; Discord drops it once the new list syncs.
            log.info(
                "interaction %s asked for command %r, which this version does not have (%s)",
                interaction.id,
                _command_name(interaction),
                type(error).__name__,
            )
            gone = catalog.text("command_gone", interaction.locale.value)
            await self._guard.report(interaction, gone)
            return
        log.error("command failed (interaction %s)", interaction.id, exc_info=error)
        cause = error.__cause__ or error
        await self._guard.report(interaction, describe_error(cause, interaction.locale.value))


def _command_name(interaction: Interaction) -> str:
    data: Any = interaction.data or {}
    return str(data.get("name", "?"))


async def _no_choices(interaction: Interaction, error: app_commands.AppCommandError) -> None:
    """Answer an autocomplete that failed with no choices: Discord accepts nothing else."""
    log.info(
        "autocomplete for %r failed (interaction %s, %s); offering no choices",
        _command_name(interaction),
        interaction.id,
        type(error).__name__,
    )
    if interaction.response.is_done():
        return
    try:
        await interaction.response.autocomplete([])
    except discord.HTTPException as exc:
        log.info("could not answer autocomplete %s (Discord code %s)", interaction.id, exc.code)


class BananaClient(discord.Client):
    """Routes messages to the conversation and interactions to the steps."""

    def __init__(
        self,
        *,
        engine: EnginePort,
        intents: discord.Intents,
        guild_ready_timeout: float,
        conversation: Conversation,
        steps: InteractionSteps,
        chat_commands: ChatCommands,
        guard: Guard,
        ready: asyncio.Event,
        syncs_commands: bool = True,
        **sharding: Any,
    ) -> None:
        # `sharding` reaches AutoShardedClient through ShardedBananaClient's MRO.
        super().__init__(
            intents=intents,
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=NO_PINGS,
            **sharding,
        )
        self.tree = CommandTree(self, guard)
        self._syncs_commands = syncs_commands
        self._engine = engine
        self._conversation = conversation
        self._steps = steps
        self._chat_commands = chat_commands
        self._presses = PressRouter(engine, guard)
        self._guard = guard
        self._connected = ready  # not `_ready`: discord.Client uses that name
        self._stale: set[int] = set()  # interactions nobody here will answer
        parsers = self._connection.parsers
        parsers["INTERACTION_CREATE"] = self._sorting_stale(parsers["INTERACTION_CREATE"])
        skip_unparsable(parsers)  # one payload discord.py cannot read must not end the session

    def _sorting_stale(self, parse: Parser) -> Parser:
        """Note a click or dialog no handler will take, before discord.py drops it silently."""

        def parse_interaction(data: Any) -> None:
            stale = not self._routable(data)
            parse(data)  # schedules `on_interaction`; it runs after this returns
            if stale:
                self._stale.add(int(data["id"]))

        return parse_interaction

    def _routable(self, data: Any) -> bool:
        inner = data.get("data") or {}
        kind = data.get("type")
        if kind == discord.InteractionType.component.value:
            return is_our_button(str(inner.get("custom_id", "")))
        if kind == discord.InteractionType.modal_submit.value:
            return inner.get("custom_id") in self._steps.dialogs
        return True

    async def on_interaction(self, interaction: Interaction) -> None:
        if interaction.id not in self._stale:
            return
        self._stale.discard(interaction.id)
        data: Any = interaction.data or {}
        custom_id = data.get("custom_id")
        log.info(
            "interaction %s: %r is not handled by this version (left from an earlier one?)",
            interaction.id,
            custom_id,
        )
        async with self._guard.interaction(interaction, "stale button"):
            gone = messages.text("button_expired", interaction.locale.value)
            await interaction.response.send_message(gone, ephemeral=True)

    @property
    def presses(self) -> PressHandler:
        """Who runs clicked action buttons (see `views.PressHost`)."""
        return self._presses

    async def setup_hook(self) -> None:
        # Logged in, gateway not connected yet: no event runs, so no step is in flight.
        references = ReferenceCommands(self._engine, self._guard, self._steps.dialogs)
        register_commands(self.tree, self._steps, self._chat_commands, references)
        self.add_dynamic_items(ActionButton, ActionChoice)
        if self._syncs_commands:
            await self._sync_commands()
        else:
            # Commands are global: one instance uploading them is enough, and every instance
            # PUTting the list at once would only race and spend rate limit.
            log.info("not syncing application commands: the instance running shard 0 does")
        await self._announce_interrupted()

    async def _sync_commands(self) -> None:
        try:
            synced = await self.tree.sync()
        except discord.HTTPException:
            # Commands registered by an earlier run keep working; do not refuse to start.
            log.warning("could not sync application commands", exc_info=True)
        else:
            log.info("synced %d application commands", len(synced))

    async def _announce_interrupted(self) -> None:
        """Answer steps a crash cut short, with Retry; before connecting, so none is running."""

        def outbox_for(chat: ChatKey, message_id: str | None, locale: str | None) -> ChannelOutbox:
            channel = self.get_partial_messageable(int(chat.chat_id))
            # An interaction's id is no message; the reply then simply has no reference.
            reply_to = (
                channel.get_partial_message(int(message_id))
                if message_id and message_id.isdigit()
                else None
            )
            return ChannelOutbox(channel, locale, reply_to=reply_to)

        try:
            await self._engine.announce_interrupted(PLATFORM, outbox_for)
        except Exception:
            log.exception("could not announce interrupted steps")

    async def on_ready(self) -> None:
        log.info(
            "connected to Discord as %s (application %s) in %d guilds%s",
            self.user,
            self.application_id,
            len(self.guilds),
            self._shards_served(),
        )
        self._connected.set()

    def _shards_served(self) -> str:
        """Which shards this client runs, for the log ("": unsharded)."""
        return ""

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None:
            await self._conversation.on_message(message, self.user.id)


class ShardedBananaClient(BananaClient, discord.AutoShardedClient):
    """The bot over `AutoShardedClient`: runs `shard_ids` (default: all) of `shard_count`.

    Discord sends a guild's events only to shard (guild_id >> 22) % shard_count, and DMs only to
    shard 0; discord.py routes our gateway requests the same way, so nothing above changes.
    """

    def _shards_served(self) -> str:
        count = self.shard_count or 0
        ids = self.shard_ids if self.shard_ids is not None else range(count)
        return f" on shards {', '.join(map(str, ids))} of {count}"

"""/settings, /usage, /info, /help and /forget, answered ephemerally to the caller only; and
/history (and Apps > History), whose storyboard is posted in the channel for everyone."""

from __future__ import annotations

import re
from collections.abc import Mapping

import discord
from discord import app_commands

from adapters.discord import catalog
from adapters.discord.boundary import Guard, answer
from adapters.discord.config import DiscordSettings
from adapters.discord.outbox import MISSING, InteractionOutbox
from adapters.discord.scope import Scope, interaction_scope
from adapters.discord.steps import matching_choices
from adapters.discord.views import action_view
from bot.chat_settings import RESET
from bot.engine_port import EnginePort
from bot.errors import InputRejected
from bot.explain import failure_for

Interaction = discord.Interaction[discord.Client]
# https://discord.com/channels/<guild or @me>/<channel>/<message>, or a bare message id.
MESSAGE_LINK = re.compile(r"(?:https?://\S*?/channels/[^/\s]+/\d+/)?(?P<id>\d{5,25})")


def message_id_of(given: str) -> str:
    """The message id in a link or id a user typed (unchanged when it is neither)."""
    match = MESSAGE_LINK.fullmatch(given.strip())
    return match["id"] if match else given.strip()


class ChatCommands:
    """Answers /settings, /usage, /help and /forget."""

    def __init__(self, engine: EnginePort, settings: DiscordSettings, guard: Guard) -> None:
        self._engine = engine
        self._settings = settings
        self._guard = guard

    async def settings(self, interaction: Interaction, changes: Mapping[str, str]) -> None:
        """Show the channel's settings, or change them (Manage Server or bot admins only)."""
        async with self._guard.interaction(interaction, "/settings"):
            scope = await self._scope(interaction)
            service = self._engine.settings_service

            async def manages_server() -> bool:
                return interaction.permissions.manage_guild

            private = interaction.guild_id is None  # in a DM the user is the whole audience
            if not await service.may_change(
                scope.chat, scope.author, private=private, chat_admin=manages_server
            ):
                await answer(interaction, catalog.text("settings_denied", scope.locale))
                return
            try:
                await service.apply(scope.chat, changes)
            except InputRejected as exc:
                await answer(interaction, failure_for(exc, scope.locale, None).message)
                return
            locale = await service.locale(scope.chat, scope.author)
            lines = "\n".join(
                f"- {line.label}: {line.shown}" for line in await service.lines(scope.chat, locale)
            )
            key = "settings_saved" if changes else "settings_now"
            await answer(interaction, catalog.text(key, locale, lines=lines))

    async def complete(
        self, interaction: Interaction, key: str, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete a setting: what the channel may choose, plus a reset entry."""
        scope = await self._scope(interaction)
        choices = await self._engine.settings_service.choices(scope.chat)
        reset = app_commands.Choice(name=catalog.text("setting_reset", scope.locale), value=RESET)
        return [reset, *matching_choices(choices.get(key, ()), current)][:25]

    async def usage(self, interaction: Interaction) -> None:
        """What the caller used today, and what is left."""
        async with self._guard.interaction(interaction, "/usage"):
            scope = await self._scope(interaction)
            await answer(interaction, await self._engine.usage_text(scope.chat, scope.author))

    async def info(self, interaction: Interaction, message: str | None) -> None:
        """How a result was made: the linked or given message's, else the latest here."""
        async with self._guard.interaction(interaction, "/info"):
            scope = await self._scope(interaction)
            reply_to = message_id_of(message) if message else None
            text = await self._engine.info_text(scope.chat, scope.author, reply_to)
            await answer(interaction, text)

    async def history(self, interaction: Interaction, message: str | None) -> None:
        """/history: the storyboard of the linked or given result, else of the latest here."""
        reply_to = message_id_of(message) if message else None
        await self._history(interaction, reply_to, "/history")

    async def history_menu(self, interaction: Interaction, message: discord.Message) -> None:
        """Apps > History on a result."""
        await self._history(interaction, str(message.id), "History")

    async def _history(self, interaction: Interaction, reply_to: str | None, what: str) -> None:
        async with self._guard.interaction(interaction, what):
            scope = await self._scope(interaction)

            async def drawing() -> None:
                # A refusal stays private; a picture on its way is for the channel.
                await interaction.response.defer(thinking=True)

            card = await self._engine.history(
                scope.chat, scope.author, reply_to, latest=True, drawing=drawing
            )
            if interaction.response.is_done():
                await InteractionOutbox(interaction, scope.locale).deliver(card)
            else:
                await answer(interaction, card.text)

    async def forget(self, interaction: Interaction) -> None:
        """Ask the caller to confirm deleting everything they sent (a button only they see)."""
        async with self._guard.interaction(interaction, "/forget"):
            scope = await self._scope(interaction)
            card = await self._engine.forget_card(scope.chat, scope.author)
            view = action_view(card.buttons) or MISSING
            await interaction.response.send_message(card.text, view=view, ephemeral=True)

    async def help(self, interaction: Interaction) -> None:
        """How to use the bot here."""
        async with self._guard.interaction(interaction, "/help"):
            scope = await self._scope(interaction)
            intent = "intent_on" if self._settings.message_content_intent else "intent_off"
            help_text = catalog.text(
                "help", scope.locale, intent=catalog.text(intent, scope.locale)
            )
            await answer(interaction, help_text)

    async def _scope(self, interaction: Interaction) -> Scope:
        return await interaction_scope(self._engine, interaction)

"""/settings, /usage, /help and /forget: answered ephemerally, to the caller only."""

from __future__ import annotations

from collections.abc import Mapping

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.boundary import Guard, answer, bad_choice
from adapters.discord.config import DiscordSettings
from adapters.discord.outbox import MISSING
from adapters.discord.scope import Scope, interaction_scope
from adapters.discord.steps import matching_choices
from adapters.discord.views import action_view
from bot.engine import Engine

Interaction = discord.Interaction[discord.Client]
RESET = "default"  # the value that clears a setting
# The model goes first: it decides which sizes and aspect ratios are valid.
SETTING_KEYS = ("model", "language", "aspect_ratio", "image_size")


def settings_lines(current: Mapping[str, str], locale: str | None) -> str:
    """One line per setting, "default" where the channel chose nothing."""
    unset = texts.text("setting_default", locale)
    return "\n".join(
        f"- {texts.text(f'label_{key}', locale)}: {current.get(key) or unset}"
        for key in ("aspect_ratio", "image_size", "model", "language")
    )


class ChatCommands:
    """Answers /settings, /usage, /help and /forget."""

    def __init__(self, engine: Engine, settings: DiscordSettings, guard: Guard) -> None:
        self._engine = engine
        self._settings = settings
        self._guard = guard

    async def settings(self, interaction: Interaction, changes: Mapping[str, str]) -> None:
        """Show the channel's settings, or change them (Manage Server or bot admins only)."""
        async with self._guard.interaction(interaction, "/settings"):
            scope = await self._scope(interaction)
            if not self._may_configure(interaction, scope):
                await answer(interaction, texts.text("settings_denied", scope.locale))
                return
            for key in (k for k in SETTING_KEYS if k in changes):
                value = None if changes[key] == RESET else changes[key]
                choices = await self._engine.setting_choices(scope.settings_chat)
                if value is not None and value not in choices[key]:
                    await answer(interaction, bad_choice(key, value, scope.locale))
                    return
                await self._engine.change_setting(scope.settings_chat, key, value)
            current = await self._engine.chat_settings(scope.settings_chat)
            locale = current.get("language") or interaction.locale.value
            key = "settings_saved" if changes else "settings_now"
            await answer(
                interaction, texts.text(key, locale, lines=settings_lines(current, locale))
            )

    async def complete(
        self, interaction: Interaction, key: str, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete a setting: what the channel may choose, plus a reset entry."""
        scope = await self._scope(interaction)
        choices = await self._engine.setting_choices(scope.settings_chat)
        reset = app_commands.Choice(name=texts.text("choice_reset", scope.locale), value=RESET)
        return [reset, *matching_choices(choices.get(key, ()), current)][:25]

    async def usage(self, interaction: Interaction) -> None:
        """What the caller used today, and what is left."""
        async with self._guard.interaction(interaction, "/usage"):
            scope = await self._scope(interaction)
            await answer(interaction, await self._engine.usage_text(scope.chat, scope.author))

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
            help_text = texts.text("help", scope.locale, intent=texts.text(intent, scope.locale))
            await answer(interaction, help_text)

    async def _scope(self, interaction: Interaction) -> Scope:
        return await interaction_scope(self._engine, interaction)

    def _may_configure(self, interaction: Interaction, scope: Scope) -> bool:
        access = self._engine.access
        if access.is_admin(scope.chat, scope.author):
            return True
        if not access.allows(scope.chat, scope.author):
            return False
        # In a DM the user is the whole audience; in a guild it takes Manage Server.
        return interaction.guild_id is None or interaction.permissions.manage_guild

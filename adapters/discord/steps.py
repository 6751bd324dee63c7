"""Interactions that run editing steps: /edit, /imagine, the Edit image menu, result buttons.

Each handler answers cheap refusals (access, bad options, no picture) ephemerally, then defers
within Discord's 3 seconds, and only then lets the engine download and call the model.
`placement` decides where the answer goes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import discord
from discord import app_commands

from adapters.discord import catalog
from adapters.discord.boundary import Guard, answer
from adapters.discord.config import DiscordSettings
from adapters.discord.parsing import (
    chat_key,
    image_sources,
    is_image,
)
from adapters.discord.placement import deferred_outbox, move_to_thread, opens_thread
from adapters.discord.prompt_modal import MenuTarget, OpenDialogs, PromptModal, picked
from adapters.discord.scope import Scope, channel_of, interaction_scope
from bot import messages
from bot.engine_port import EnginePort
from bot.errors import InputRejected
from bot.explain import failure_for
from bot.request import EditRequest, ImageSource

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
MAX_CHOICES = 25  # Discord's autocomplete limit


def matching_choices(values: Sequence[str], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete entries: the values containing what was typed so far."""
    typed = current.strip().lower()
    return [
        app_commands.Choice(name=value, value=value) for value in values if typed in value.lower()
    ][:MAX_CHOICES]


class InteractionSteps:
    """Runs editing steps for slash commands, the message menu and result buttons."""

    def __init__(
        self, engine: EnginePort, settings: DiscordSettings, guard: Guard, max_prompt_chars: int
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._guard = guard
        self._max_prompt_chars = max_prompt_chars
        self.dialogs = OpenDialogs()
        """The Edit image dialogs now open (the client answers submissions of others)."""

    # slash commands ---------------------------------------------------------------------------

    async def edit(
        self,
        interaction: Interaction,
        prompt: str,
        attachments: Sequence[discord.Attachment],
        aspect_ratio: str | None,
        size: str | None,
        reference: str | None = None,
    ) -> None:
        """/edit: edit the attached pictures."""
        async with self._guard.interaction(interaction, "/edit"):
            scope = await self._scope(interaction, aspect_ratio, size)
            if not await self._admitted(interaction, scope, aspect_ratio, size):
                return
            if not all(is_image(a) for a in attachments):
                await answer(interaction, messages.text("image_not_an_image", scope.locale))
                return
            await self._start(
                interaction, scope, prompt, image_sources(attachments), references=reference
            )

    async def imagine(
        self,
        interaction: Interaction,
        prompt: str,
        aspect_ratio: str | None,
        size: str | None,
        reference: str | None = None,
    ) -> None:
        """/imagine: a new picture from a description."""
        async with self._guard.interaction(interaction, "/imagine"):
            scope = await self._scope(interaction, aspect_ratio, size)
            if not await self._admitted(interaction, scope, aspect_ratio, size):
                return
            await self._start(interaction, scope, prompt, (), references=reference)

    async def complete(
        self, interaction: Interaction, key: str, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete a setting from what the channel's model offers."""
        chat = chat_key(channel_of(interaction), interaction.guild_id)
        choices = await self._engine.settings_service.choices(chat)
        return matching_choices(choices.get(key, ()), current)

    # the Edit image menu ------------------------------------------------------------------------

    async def edit_menu(self, interaction: Interaction, message: discord.Message) -> None:
        """Apps > Edit image: ask for the instruction, unless there is nothing to edit."""
        async with self._guard.interaction(interaction, "Edit image"):
            scope = await self._scope(interaction)
            if not await self._admitted(interaction, scope):
                return
            target = await picked(self._engine, scope.chat, message)
            if target is None:
                await answer(interaction, catalog.text("no_image_there", scope.locale))
                return
            modal = PromptModal(
                target, self.submit, scope.locale, self._max_prompt_chars, self.dialogs
            )
            await interaction.response.send_modal(modal)

    async def submit(self, interaction: Interaction, target: MenuTarget, prompt: str) -> None:
        """The Edit image dialog was sent: continue from a result, or edit the pictures."""
        async with self._guard.interaction(interaction, "Edit image dialog"):
            scope = await self._scope(interaction)
            if not await self._admitted(interaction, scope):
                return
            reply_to = str(target.message_id) if target.linked else None
            await self._start(interaction, scope, prompt, image_sources(target.images), reply_to)

    # shared -------------------------------------------------------------------------------------

    async def _scope(
        self, interaction: Interaction, aspect_ratio: str | None = None, size: str | None = None
    ) -> Scope:
        return await interaction_scope(self._engine, interaction, aspect_ratio, size)

    async def _admitted(
        self,
        interaction: Interaction,
        scope: Scope,
        aspect_ratio: str | None = None,
        size: str | None = None,
    ) -> bool:
        """Refuse, ephemerally and before deferring, what the caller can fix or cannot do."""
        if not self._engine.access.allows(scope.chat, scope.author):
            await answer(interaction, messages.text("access_denied", scope.locale))
            return False
        if aspect_ratio is None and size is None:
            return True
        try:
            for key, value in (("aspect_ratio", aspect_ratio), ("image_size", size)):
                if value is not None:
                    await self._engine.settings_service.check(scope.chat, key, value)
        except InputRejected as exc:
            await answer(interaction, failure_for(exc, scope.locale, None).message)
            return False
        return True

    async def _start(
        self,
        interaction: Interaction,
        scope: Scope,
        prompt: str,
        images: tuple[ImageSource, ...],
        reply_to: str | None = None,
        *,
        references: str | None = None,
    ) -> None:
        """Defer, open a thread for a new lineage when configured, and run the step."""
        outbox = await deferred_outbox(interaction, scope)
        notice: str | None = None
        if reply_to is None and opens_thread(self._settings.auto_thread, interaction, outbox):
            scope, outbox, notice = await move_to_thread(interaction, scope, outbox, prompt)
        request = EditRequest(
            chat=scope.chat,
            author=scope.author,
            message_id=str(interaction.id),
            text=prompt,
            images=images,
            reply_to=reply_to,
            options=scope.options,
            references=(references.strip().removeprefix("#"),) if references else (),
        )
        await self._engine.handle(request, outbox)
        if notice is not None:
            # Only now: the first follow-up after a defer fills the deferred message.
            await interaction.followup.send(notice, ephemeral=True)

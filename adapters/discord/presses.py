"""Answer a click on an action button: the core's `PressReply` for one Discord interaction.

Discord wants one first response within 3 seconds, and its kind fixes what may follow: a
public deferral for a new result, an ephemeral one for files only the clicker sees, or an
update of the clicked message. So the acknowledgment waits until the answer's shape is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import discord

from adapters.discord import catalog
from adapters.discord.boundary import Guard, answer
from adapters.discord.placement import deferred_outbox
from adapters.discord.posts import Upload, human_size
from adapters.discord.scope import Scope, interaction_scope
from adapters.discord.views import choice_view
from bot.actions import Button
from bot.delivery import Outbox
from bot.engine_port import EnginePort
from bot.outcome import ResultImage, file_names

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]


class DiscordPress:
    """One click's answers; use as `async with` around `EnginePort.press`."""

    def __init__(self, interaction: Interaction, scope: Scope) -> None:
        self._interaction = interaction
        self._scope = scope

    async def acknowledge(self) -> None:
        """Nothing yet: the first response is chosen by what the action does next."""

    async def notify(self, text: str) -> None:
        await answer(self._interaction, text)

    async def outbox(self) -> Outbox:
        return await deferred_outbox(self._interaction, self._scope)

    async def send_files(self, images: Sequence[ResultImage], caption: str, stem: str) -> None:
        interaction = self._interaction
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True, ephemeral=True)
        limit = interaction.filesize_limit
        for image, name in zip(images, file_names(images, stem), strict=True):
            if len(image.data) > limit:
                note = catalog.text(
                    "original_too_large",
                    self._scope.locale,
                    size=human_size(len(image.data)),
                    limit=human_size(limit),
                )
                await interaction.followup.send(note, ephemeral=True)
                continue
            file = Upload(name, image.data).file()
            await interaction.followup.send(caption, file=file, ephemeral=True)

    async def replace(self, text: str) -> None:
        if self._interaction.response.is_done():
            await self._interaction.edit_original_response(content=text, view=None)
        else:
            await self._interaction.response.edit_message(content=text, view=None)

    async def choose(self, prompt: str, options: Sequence[Button]) -> None:
        view = choice_view(prompt, options)
        await self._interaction.response.send_message(prompt, view=view, ephemeral=True)

    async def presser_is_chat_admin(self) -> bool:
        # Those who may remove anyone's messages here may stop anyone's step.
        return self._interaction.permissions.manage_messages

    async def finish(self) -> None:
        if self._interaction.response.is_done():
            return
        try:  # acknowledged, nothing shown: a silent update stops the spinner
            await self._interaction.response.defer()
        except discord.HTTPException as exc:
            log.info("could not acknowledge interaction %s: %s", self._interaction.id, exc)


class PressRouter:
    """Hands every clicked action to the core, inside the interaction's error boundary."""

    def __init__(self, engine: EnginePort, guard: Guard) -> None:
        self._engine = engine
        self._guard = guard

    async def press(self, interaction: Interaction, payload: str) -> None:
        async with self._guard.interaction(interaction, "button"):
            scope = await interaction_scope(self._engine, interaction)
            reply = DiscordPress(interaction, scope)
            await self._engine.press(payload, scope.chat, scope.author, reply)

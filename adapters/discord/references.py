"""/ref save, /ref list, /ref delete, Apps > Save as reference, and reference autocomplete.

Answers go to the caller only (ephemeral): a list may show their own references' pictures, and
a confirmation is nobody else's business. The rules and sentences are the core's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import discord
from discord import app_commands

from adapters.discord import catalog
from adapters.discord.boundary import Guard, answer
from adapters.discord.outbox import InteractionOutbox
from adapters.discord.parsing import image_sources, is_image
from adapters.discord.prompt_modal import MenuTarget, OpenDialogs, TrackedModal, picked
from adapters.discord.scope import Scope, interaction_scope
from adapters.discord.steps import matching_choices
from bot import messages
from bot.engine_port import EnginePort
from bot.styles import MAX_NAME

Interaction = discord.Interaction[discord.Client]
SAVE_MENU = "Save as reference"


Submit = Callable[[Interaction, MenuTarget, str, str], Awaitable[None]]


class NameModal(TrackedModal):
    """Asks the reference's name (and, optionally, a style text to keep with it)."""

    def __init__(
        self, target: MenuTarget, submit: Submit, locale: str | None, dialogs: OpenDialogs
    ) -> None:
        super().__init__(catalog.text("ref_modal_title", locale), dialogs)
        self._target = target
        self._submit = submit
        self.name: discord.ui.TextInput[NameModal] = discord.ui.TextInput(
            label=catalog.text("ref_modal_name", locale), max_length=MAX_NAME
        )
        self.prompt: discord.ui.TextInput[NameModal] = discord.ui.TextInput(
            label=catalog.text("ref_modal_prompt", locale),
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=1000,
        )
        self.add_item(self.name)
        self.add_item(self.prompt)

    async def on_submit(self, interaction: Interaction) -> None:
        await self._submit(interaction, self._target, self.name.value, self.prompt.value)


class ReferenceCommands:
    """Runs the reference commands and menus."""

    def __init__(self, engine: EnginePort, guard: Guard, dialogs: OpenDialogs) -> None:
        self._engine = engine
        self._guard = guard
        self._dialogs = dialogs

    async def save(
        self,
        interaction: Interaction,
        name: str,
        attachments: Sequence[discord.Attachment],
        prompt: str | None,
    ) -> None:
        """/ref save: the attached pictures and/or a style, as #name."""
        async with self._guard.interaction(interaction, "/ref save"):
            scope = await interaction_scope(self._engine, interaction)
            if not all(is_image(a) for a in attachments):
                await answer(interaction, messages.text("image_not_an_image", scope.locale))
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await self._engine.save_reference(
                scope.chat,
                scope.author,
                name.strip().removeprefix("#"),
                prompt or "",
                image_sources(attachments),
                private=interaction.guild_id is None,
                chat_admin=_manages_messages(interaction),
            )
            await answer(interaction, text)

    async def sheet(self, interaction: Interaction) -> None:
        """/ref list: the contact sheet, for the caller only."""
        async with self._guard.interaction(interaction, "/ref list"):
            scope = await interaction_scope(self._engine, interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)
            card = await self._engine.reference_sheet(scope.chat, scope.author, private=True)
            await InteractionOutbox(interaction, scope.locale, ephemeral=True).deliver(card)

    async def delete(self, interaction: Interaction, name: str) -> None:
        """/ref delete: one of the channel's references, or one of the caller's own in a DM."""
        async with self._guard.interaction(interaction, "/ref delete"):
            scope = await interaction_scope(self._engine, interaction)
            text = await self._engine.delete_reference(
                scope.chat,
                scope.author,
                name.strip().removeprefix("#"),
                private=interaction.guild_id is None,
                chat_admin=_manages_messages(interaction),
            )
            await answer(interaction, text)

    async def complete(
        self, interaction: Interaction, current: str, *, styles: bool
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete a reference name (saved ones first; styles where they can be used)."""
        scope = await interaction_scope(self._engine, interaction)
        names = await self._engine.reference_names(scope.chat, scope.author, styles=styles)
        return matching_choices(names, current.removeprefix("#"))

    async def save_menu(self, interaction: Interaction, message: discord.Message) -> None:
        """Apps > Save as reference: ask the name, unless the message has no picture."""
        async with self._guard.interaction(interaction, SAVE_MENU):
            scope = await interaction_scope(self._engine, interaction)
            target = await picked(self._engine, scope.chat, message)
            if target is None:
                await answer(interaction, catalog.text("no_image_there", scope.locale))
                return
            modal = NameModal(target, self.submit, scope.locale, self._dialogs)
            await interaction.response.send_modal(modal)

    async def submit(
        self, interaction: Interaction, target: MenuTarget, name: str, prompt: str
    ) -> None:
        """The Save as reference dialog was sent."""
        async with self._guard.interaction(interaction, "Save as reference dialog"):
            scope: Scope = await interaction_scope(self._engine, interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await self._engine.save_reference(
                scope.chat,
                scope.author,
                name.strip().removeprefix("#"),
                prompt,
                () if target.linked else image_sources(target.images),
                str(target.message_id) if target.linked else None,
                private=interaction.guild_id is None,
                chat_admin=_manages_messages(interaction),
            )
            await answer(interaction, text)


def _manages_messages(interaction: Interaction) -> Callable[[], Awaitable[bool]]:
    """Discord's "chat admin" for references, as for Stop: Manage Messages here."""

    async def manages() -> bool:
        return interaction.permissions.manage_messages

    return manages

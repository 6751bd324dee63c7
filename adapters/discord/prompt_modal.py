"""The "Edit image" dialog: asks for the instruction for a message picked in the Apps menu."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from adapters.discord import texts

Interaction = discord.Interaction[discord.Client]
MODAL_TIMEOUT_S = 15 * 60.0  # an abandoned dialog is forgotten after the token's lifetime
MAX_PROMPT_CHARS = 4000  # Discord's text input limit


@dataclass(frozen=True, slots=True)
class EditTarget:
    """The message picked for editing: a linked result continues, otherwise its pictures start."""

    message_id: int
    linked: bool
    images: tuple[discord.Attachment, ...]


Submit = Callable[[Interaction, EditTarget, str], Awaitable[None]]


class PromptModal(discord.ui.Modal):
    """One text field for the instruction; submitting runs the edit."""

    def __init__(
        self, target: EditTarget, submit: Submit, locale: str | None, max_length: int
    ) -> None:
        super().__init__(title=texts.text("modal_title", locale), timeout=MODAL_TIMEOUT_S)
        self._target = target
        self._submit = submit
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=texts.text("modal_label", locale),
            placeholder=texts.text("modal_placeholder", locale),
            style=discord.TextStyle.paragraph,
            max_length=min(max_length, MAX_PROMPT_CHARS),
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: Interaction) -> None:
        await self._submit(interaction, self._target, self.prompt.value)

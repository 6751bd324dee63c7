"""The "Edit image" dialog: asks for the instruction for a message picked in the Apps menu."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from adapters.discord import catalog

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


class OpenDialogs:
    """The custom ids of the Edit image dialogs still open (discord.py lists none publicly).

    A submission whose id is not here comes from a dialog this process never opened (it was
    open across a restart) or one that timed out: it is answered, not left to fail.
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def opened(self, custom_id: str) -> None:
        self._ids.add(custom_id)

    def closed(self, custom_id: str) -> None:
        self._ids.discard(custom_id)

    def __contains__(self, custom_id: object) -> bool:
        return custom_id in self._ids


class PromptModal(discord.ui.Modal):
    """One text field for the instruction; submitting runs the edit."""

    def __init__(
        self,
        target: EditTarget,
        submit: Submit,
        locale: str | None,
        max_length: int,
        dialogs: OpenDialogs,
    ) -> None:
        super().__init__(title=catalog.text("modal_title", locale), timeout=MODAL_TIMEOUT_S)
        self._target = target
        self._submit = submit
        self._dialogs = dialogs
        dialogs.opened(self.custom_id)
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=catalog.text("modal_label", locale),
            placeholder=catalog.text("modal_placeholder", locale),
            style=discord.TextStyle.paragraph,
            max_length=min(max_length, MAX_PROMPT_CHARS),
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: Interaction) -> None:
        await self._submit(interaction, self._target, self.prompt.value)

    def stop(self) -> None:
        self._dialogs.closed(self.custom_id)
        super().stop()

    async def on_timeout(self) -> None:
        self._dialogs.closed(self.custom_id)

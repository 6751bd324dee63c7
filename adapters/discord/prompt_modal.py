"""The Apps-menu dialogs: "Edit image" asks for the instruction for the picked message; the
message picked and the registry of open dialogs serve every such menu."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from adapters.discord import catalog
from adapters.discord.parsing import attachments_of, image_attachments
from bot.engine_port import EnginePort
from bot.request import ChatKey

Interaction = discord.Interaction[discord.Client]
MODAL_TIMEOUT_S = 15 * 60.0  # an abandoned dialog is forgotten after the token's lifetime
MAX_PROMPT_CHARS = 4000  # Discord's text input limit


@dataclass(frozen=True, slots=True)
class MenuTarget:
    """The message picked in an Apps menu: a linked result of ours, or its own pictures."""

    message_id: int
    linked: bool
    images: tuple[discord.Attachment, ...]


async def picked(engine: EnginePort, chat: ChatKey, message: discord.Message) -> MenuTarget | None:
    """What a menu on `message` works on; None when it shows no result and has no picture."""
    linked = await engine.is_linked(chat, str(message.id))
    images = () if linked else image_attachments(attachments_of(message))
    if not linked and not images:
        return None
    return MenuTarget(message.id, linked, images)


Submit = Callable[[Interaction, MenuTarget, str], Awaitable[None]]


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


class TrackedModal(discord.ui.Modal):
    """A dialog that is listed in `OpenDialogs` from opening until it stops or times out."""

    def __init__(self, title: str, dialogs: OpenDialogs) -> None:
        super().__init__(title=title, timeout=MODAL_TIMEOUT_S)
        self._dialogs = dialogs
        dialogs.opened(self.custom_id)

    def stop(self) -> None:
        self._dialogs.closed(self.custom_id)
        super().stop()

    async def on_timeout(self) -> None:
        self._dialogs.closed(self.custom_id)


class PromptModal(TrackedModal):
    """One text field for the instruction; submitting runs the edit."""

    def __init__(
        self,
        target: MenuTarget,
        submit: Submit,
        locale: str | None,
        max_length: int,
        dialogs: OpenDialogs,
    ) -> None:
        super().__init__(catalog.text("modal_title", locale), dialogs)
        self._target = target
        self._submit = submit
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=catalog.text("modal_label", locale),
            placeholder=catalog.text("modal_placeholder", locale),
            style=discord.TextStyle.paragraph,
            max_length=min(max_length, MAX_PROMPT_CHARS),
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: Interaction) -> None:
        await self._submit(interaction, self._target, self.prompt.value)

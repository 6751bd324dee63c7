"""Persistent Retry, Original and Delete-my-data buttons that keep working after a restart.

The state (a turn id, the asker's user id) lives in the button's custom id, so a click needs no
memory: after a restart `Client.add_dynamic_items` rebuilds the button and the engine resolves
the rest.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord

from adapters.discord.posts import Buttons
from bot import messages

RETRY_TEMPLATE = r"bb:retry:(?P<turn>\d+)"
ORIGINAL_TEMPLATE = r"bb:original:(?P<turn>\d+)"
FORGET_TEMPLATE = r"bb:forget:(?P<user>\d+)"

_TEMPLATES = tuple(re.compile(t) for t in (RETRY_TEMPLATE, ORIGINAL_TEMPLATE, FORGET_TEMPLATE))

Interaction = discord.Interaction[discord.Client]
Button = discord.ui.Button[discord.ui.View]


def is_our_button(custom_id: str) -> bool:
    """Whether a clicked custom id is a button this version handles.

    Every button the bot posts is one of the dynamic items below, so this needs no memory.
    """
    return any(template.fullmatch(custom_id) for template in _TEMPLATES)


class ButtonHandler(Protocol):
    """What a click on a result button asks for."""

    async def retry(self, interaction: Interaction, turn_id: int) -> None:
        """Post a new variant of the result (or retry a failed step)."""

    async def original(self, interaction: Interaction, turn_id: int) -> None:
        """Send the lossless original of the result."""

    async def forget(self, interaction: Interaction, owner_id: int) -> None:
        """Delete the data of `owner_id`, who must be the one clicking."""


@runtime_checkable
class ButtonHost(Protocol):
    """A client that knows who handles result buttons."""

    @property
    def buttons(self) -> ButtonHandler: ...


def _handler(interaction: Interaction) -> ButtonHandler:
    client = interaction.client
    if not isinstance(client, ButtonHost):
        raise TypeError(f"{type(client).__name__} does not handle result buttons")
    return client.buttons


class RetryButton(discord.ui.DynamicItem[Button], template=RETRY_TEMPLATE):
    """Reroll: a sibling answer to the same instruction."""

    def __init__(self, turn_id: int, label: str = "Retry") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="\N{CLOCKWISE RIGHTWARDS AND LEFTWARDS OPEN CIRCLE ARROWS}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:retry:{turn_id}",
            )
        )
        self.turn_id = turn_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RetryButton:
        return cls(int(match["turn"]))

    async def callback(self, interaction: Interaction) -> None:
        await _handler(interaction).retry(interaction, self.turn_id)


class OriginalButton(discord.ui.DynamicItem[Button], template=ORIGINAL_TEMPLATE):
    """Send the stored, lossless PNG."""

    def __init__(self, turn_id: int, label: str = "Original") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="\N{FRAME WITH PICTURE}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:original:{turn_id}",
            )
        )
        self.turn_id = turn_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> OriginalButton:
        return cls(int(match["turn"]))

    async def callback(self, interaction: Interaction) -> None:
        await _handler(interaction).original(interaction, self.turn_id)


class ForgetButton(discord.ui.DynamicItem[Button], template=FORGET_TEMPLATE):
    """Confirm /forget; only the user who asked may press it."""

    def __init__(self, owner_id: int, label: str = "Delete my data") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.danger, custom_id=f"bb:forget:{owner_id}"
            )
        )
        self.owner_id = owner_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ForgetButton:
        return cls(int(match["user"]))

    async def callback(self, interaction: Interaction) -> None:
        await _handler(interaction).forget(interaction, self.owner_id)


def result_view(buttons: Buttons | None, locale: str | None) -> discord.ui.View | None:
    """The buttons under a result, labelled in the user's language."""
    if buttons is None or (buttons.retry_turn is None and buttons.original_turn is None):
        return None
    view = discord.ui.View(timeout=None)
    if buttons.retry_turn is not None:
        view.add_item(RetryButton(buttons.retry_turn, messages.text("retry_button", locale)))
    if buttons.original_turn is not None:
        label = messages.text("original_button", locale)
        view.add_item(OriginalButton(buttons.original_turn, label))
    return view

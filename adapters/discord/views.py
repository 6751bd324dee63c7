"""Persistent buttons for every core action, still working after a restart.

The core declares the actions; a card's buttons arrive with their label and payload. The
payload is the button's custom id, so a click needs no memory: after a restart
`Client.add_dynamic_items` rebuilds the button from it and the core runs the action.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import discord

from bot.actions import PAYLOAD_REGEX, Button, Style

Interaction = discord.Interaction[discord.Client]
UiButton = discord.ui.Button[discord.ui.View]

_STYLES = {
    Style.NEUTRAL: discord.ButtonStyle.secondary,
    Style.PRIMARY: discord.ButtonStyle.primary,
    Style.DANGER: discord.ButtonStyle.danger,
}


def is_our_button(custom_id: str) -> bool:
    """Whether a clicked custom id is an action payload (of this or an earlier version), or
    one of our choice menus."""
    return (
        re.fullmatch(PAYLOAD_REGEX, custom_id) is not None
        or re.fullmatch(rf"{CHOICE_PREFIX}\w+", custom_id) is not None
    )


class PressHandler(Protocol):
    """Who runs a clicked action."""

    async def press(self, interaction: Interaction, payload: str) -> None:
        """Run the action `payload` names for the user who clicked."""


@runtime_checkable
class PressHost(Protocol):
    """A client that knows who handles action buttons."""

    @property
    def presses(self) -> PressHandler: ...


class ActionButton(discord.ui.DynamicItem[UiButton], template=rf"(?P<payload>{PAYLOAD_REGEX})"):
    """Any core action; its custom id is the action's payload."""

    def __init__(
        self,
        payload: str,
        label: str = "…",
        style: Style = Style.NEUTRAL,
        emoji: str | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Button(label=label, emoji=emoji, style=_STYLES[style], custom_id=payload)
        )
        self.payload = payload

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        return cls(match["payload"])

    async def callback(self, interaction: Interaction) -> None:
        client = interaction.client
        if not isinstance(client, PressHost):
            raise TypeError(f"{type(client).__name__} does not handle action buttons")
        await client.presses.press(interaction, self.payload)


UiSelect = discord.ui.Select[discord.ui.View]
CHOICE_PREFIX = "bbpick:"  # a select menu whose option values are action payloads
MAX_OPTIONS = 25  # Discord's limit per select menu


class ActionChoice(discord.ui.DynamicItem[UiSelect], template=rf"{CHOICE_PREFIX}(?P<key>\w+)"):
    """A select menu of core action payloads; picking one runs it, after a restart too."""

    def __init__(self, key: str, prompt: str = "…", options: Sequence[Button] = ()) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"{CHOICE_PREFIX}{key}",
                placeholder=prompt[:150],
                options=[
                    discord.SelectOption(label=o.label[:100], value=o.payload)
                    for o in options[:MAX_OPTIONS]
                ]
                or [discord.SelectOption(label="…")],
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionChoice:
        return cls(match["key"])

    async def callback(self, interaction: Interaction) -> None:
        client = interaction.client
        if not isinstance(client, PressHost):
            raise TypeError(f"{type(client).__name__} does not handle action choices")
        await client.presses.press(interaction, self.item.values[0])


def choice_view(prompt: str, options: Sequence[Button]) -> discord.ui.View:
    """`options` as one select menu (at most 25) that keeps working after a restart."""
    view = discord.ui.View(timeout=None)
    view.add_item(ActionChoice(secrets.token_hex(8), prompt, options))
    return view


def action_view(buttons: Sequence[Button]) -> discord.ui.View | None:
    """A card's buttons as a persistent view (None when there are none)."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(ActionButton(button.payload, button.label, button.style, button.emoji))
    return view

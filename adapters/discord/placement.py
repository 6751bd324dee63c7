"""Where an interaction's step answers: its follow-ups, a new thread, or the channel when late."""

from __future__ import annotations

import logging

import discord

from adapters.discord import catalog
from adapters.discord.boundary import fallback_channel, token_gone
from adapters.discord.outbox import NO_PINGS, ChannelOutbox, InteractionOutbox
from adapters.discord.parsing import thread_name
from adapters.discord.scope import Scope
from bot.delivery import Outbox

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
THREAD_INTRO_CHARS = 1900  # the prompt shown on the thread's starter message


async def deferred_outbox(interaction: Interaction, scope: Scope) -> Outbox:
    """Defer the interaction; if Discord already gave up on it, answer in the channel."""
    try:
        await interaction.response.defer(thinking=True)
    except discord.HTTPException as exc:
        if not token_gone(exc):
            raise
        # Too late to acknowledge (a 3-second miss): the request itself is still good.
        log.warning(
            "interaction %s could not be deferred; answering in the channel", interaction.id
        )
        return ChannelOutbox(fallback_channel(interaction), scope.locale, mention=interaction.user)
    return InteractionOutbox(interaction, scope.locale)


def opens_thread(auto_thread: bool, interaction: Interaction, outbox: Outbox) -> bool:
    """Whether a new lineage started by this interaction gets its own thread."""
    return (
        auto_thread
        and isinstance(outbox, InteractionOutbox)  # a late command has no response to hang it on
        and isinstance(interaction.channel, discord.TextChannel)
    )


async def move_to_thread(
    interaction: Interaction, scope: Scope, outbox: Outbox, prompt: str
) -> tuple[Scope, Outbox, str | None]:
    """Continue in a new thread; without one stay put, with a note when permissions lack."""
    try:
        thread = await _open_thread(interaction, prompt)
    except discord.HTTPException as exc:
        log.warning(
            "could not open a thread for interaction %s (Discord code %s)",
            interaction.id,
            exc.code,
        )
        notice = (
            catalog.text("missing_permissions", scope.locale, names="Create Public Threads")
            if isinstance(exc, discord.Forbidden)
            else None
        )
        return scope, outbox, notice
    scope = scope.in_thread(thread)
    return scope, ChannelOutbox(thread, scope.locale, mention=interaction.user), None


async def _open_thread(interaction: Interaction, prompt: str) -> discord.Thread:
    """Hang a thread off the deferred response; the response then shows the prompt."""
    response = await interaction.original_response()
    thread = await response.create_thread(name=thread_name(prompt))
    intro = discord.utils.escape_markdown(prompt.strip()[:THREAD_INTRO_CHARS])
    await interaction.edit_original_response(
        content=f"\N{SPOOL OF THREAD} {intro}", allowed_mentions=NO_PINGS
    )
    return thread

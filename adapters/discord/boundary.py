"""The one error boundary around every Discord event: log first, then tell the user briefly.

It also remembers which steps are running, so shutdown can let them finish (a result is linked
only after it is posted) and cancel the stragglers instead of leaving tasks behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import discord

from adapters.discord import catalog
from bot.errors import BotError
from bot.explain import failure_for

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]

UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MISSING_PERMISSIONS = 50013
# What the bot needs in a channel (README "Discord" lists the same).
NEEDED_PERMISSIONS = (
    "View Channel, Send Messages, Send Messages in Threads, Create Public Threads, "
    "Attach Files, Read Message History"
)


def token_gone(exc: discord.HTTPException) -> bool:
    """Whether the interaction token is unusable (too late, expired, or never acknowledged)."""
    return isinstance(exc, discord.NotFound) and exc.code in (UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION)


def describe_error(exc: BaseException, locale: str | None) -> str:
    """A short, localized sentence for the user about `exc`."""
    if isinstance(exc, discord.Forbidden) and exc.code == MISSING_PERMISSIONS:
        return catalog.text("missing_permissions", locale, names=NEEDED_PERMISSIONS)
    if isinstance(exc, BotError):
        return failure_for(exc, locale, None).message
    return catalog.text("internal_error", locale)


def fallback_channel(interaction: Interaction) -> discord.abc.Messageable:
    """Where to post when the interaction token cannot be used any more."""
    channel = interaction.channel
    if isinstance(channel, discord.abc.Messageable):
        return channel
    if interaction.channel_id is None:
        raise RuntimeError(f"interaction {interaction.id} has no channel to post in")
    return interaction.client.get_partial_messageable(interaction.channel_id)


async def answer(interaction: Interaction, content: str, *, ephemeral: bool = True) -> None:
    """Answer in place (respond, else follow up); in the channel when the token is dead."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=ephemeral)
        else:
            await interaction.response.send_message(content, ephemeral=ephemeral)
    except discord.NotFound as exc:
        if not token_gone(exc):
            raise
        user = interaction.user
        await fallback_channel(interaction).send(
            f"{user.mention} {content}", allowed_mentions=discord.AllowedMentions(users=[user])
        )


class Guard:
    """Wraps each incoming event: logs what escaped, answers the user, tracks running steps."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    @asynccontextmanager
    async def interaction(self, interaction: Interaction, what: str) -> AsyncIterator[None]:
        """Run an interaction handler; report anything that escapes it in place."""
        with self._tracked():
            try:
                yield
            except Exception as exc:
                log.exception(
                    "%s failed (interaction %s, channel %s)",
                    what,
                    interaction.id,
                    interaction.channel_id,
                )
                await self.report(interaction, describe_error(exc, interaction.locale.value))

    async def report(self, interaction: Interaction, content: str) -> None:
        """Tell the caller about a failure; never raise (the failure is logged already)."""
        try:
            await answer(interaction, content)
        except discord.HTTPException:
            log.warning(
                "could not report a failure to interaction %s", interaction.id, exc_info=True
            )

    @asynccontextmanager
    async def message(self, message: discord.Message, what: str) -> AsyncIterator[None]:
        """Run a message handler; report anything that escapes it as a reply."""
        with self._tracked():
            try:
                yield
            except Exception as exc:
                log.exception(
                    "%s failed (message %s, channel %s)", what, message.id, message.channel.id
                )
                locale = message.guild.preferred_locale.value if message.guild else None
                try:
                    await message.reply(describe_error(exc, locale), mention_author=False)
                except discord.HTTPException:
                    log.warning("could not report a failure to message %s", message.id)

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._running.discard(task)

    async def drain(self, grace: float) -> None:
        """Give running steps `grace` seconds to finish (and link their results), then cancel."""
        tasks = [task for task in self._running if task is not asyncio.current_task()]
        if not tasks:
            return
        log.info("waiting up to %.0f s for %d running steps", grace, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelled %d steps at shutdown; Retry runs them again", len(pending))
            await asyncio.wait(pending)

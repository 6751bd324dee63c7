"""Who asks, where, in which language and with which channel settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

import discord

from adapters.discord.parsing import author_of, chat_key
from bot.engine_port import EnginePort
from bot.request import Author, ChatKey, GenerationOptions

Interaction = discord.Interaction[discord.Client]


@dataclass(frozen=True, slots=True)
class Scope:
    """The core's view of one Discord event."""

    chat: ChatKey  # a thread is a chat of its own that uses its channel's settings
    author: Author
    locale: str | None  # the channel's language setting, else the user's Discord locale
    options: GenerationOptions  # what the command itself asked for

    def in_thread(self, thread: discord.Thread) -> Scope:
        """The same request, moved into a thread the bot just opened."""
        return replace(self, chat=chat_key(thread))


async def scope_for(
    engine: EnginePort,
    channel: discord.abc.Snowflake,
    user: discord.User | discord.Member,
    platform_locale: str | None,
    *,
    guild_id: int | None = None,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
) -> Scope:
    """Resolve the chat, the author and the language a request runs with."""
    chat = chat_key(channel, guild_id)
    author = author_of(user, platform_locale)
    options = GenerationOptions(aspect_ratio=aspect_ratio, image_size=image_size)
    return Scope(chat, author, await engine.locale(chat, author), options)


def channel_of(interaction: Interaction) -> discord.abc.Snowflake:
    """The channel (or thread) an interaction happened in."""
    if interaction.channel is not None:
        return interaction.channel
    if interaction.channel_id is None:
        raise RuntimeError(f"interaction {interaction.id} has no channel")
    return discord.Object(interaction.channel_id)


async def interaction_scope(
    engine: EnginePort,
    interaction: Interaction,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
) -> Scope:
    """The scope of a slash command, menu, button or modal."""
    return await scope_for(
        engine,
        channel_of(interaction),
        interaction.user,
        interaction.locale.value,
        guild_id=interaction.guild_id,
        aspect_ratio=aspect_ratio,
        image_size=image_size,
    )

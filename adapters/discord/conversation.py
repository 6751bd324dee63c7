"""Answer messages: replies to results, mentions with pictures, direct messages."""

from __future__ import annotations

import logging

import discord

from adapters.discord.boundary import Guard
from adapters.discord.config import DiscordSettings
from adapters.discord.outbox import ChannelOutbox
from adapters.discord.parsing import (
    Incoming,
    attachments_of,
    chat_key,
    image_attachments,
    image_sources,
    plan_message,
    read_message,
    thread_name,
)
from adapters.discord.scope import Scope, scope_for
from bot import messages
from bot.cards import Card
from bot.engine_port import EnginePort
from bot.request import EditRequest

log = logging.getLogger(__name__)


async def referenced_message(message: discord.Message) -> discord.Message | None:
    """The message `message` replies to, from the event when Discord sent it, else fetched."""
    ref = message.reference
    if ref is None or ref.message_id is None:
        return None
    if isinstance(ref.resolved, discord.Message):
        return ref.resolved
    if isinstance(ref.resolved, discord.DeletedReferencedMessage):
        return None
    try:
        return await message.channel.fetch_message(ref.message_id)
    except (discord.NotFound, discord.Forbidden):
        return None


class Conversation:
    """Turns messages addressed to the bot into editing steps."""

    def __init__(self, engine: EnginePort, settings: DiscordSettings, guard: Guard) -> None:
        self._engine = engine
        self._settings = settings
        self._guard = guard

    async def on_message(self, message: discord.Message, bot_id: int) -> None:
        """Answer `message` if it is for the bot; ignore it, unread, otherwise."""
        incoming = read_message(message, bot_id)
        if incoming is None:
            return
        async with self._guard.message(message, "message"):
            await self._answer(message, incoming)

    async def _answer(self, message: discord.Message, incoming: Incoming) -> None:
        linked = incoming.reference_id is not None and await self._engine.is_linked(
            chat_key(message.channel), str(incoming.reference_id)
        )
        plan = plan_message(incoming, linked)
        if plan is None:
            return
        images = incoming.images
        borrowed: tuple[discord.Attachment, ...] = ()
        refuse = plan.refuse_files
        if plan.borrow_images:
            referenced = await referenced_message(message)
            files = attachments_of(referenced) if referenced else ()
            borrowed = image_attachments(files)
            # "@bot make it blue" on someone's PDF
            refuse = bool(files) and not borrowed and not images
        locale = message.guild.preferred_locale.value if message.guild else None
        scope = await scope_for(self._engine, message.channel, message.author, locale)
        channel: discord.abc.Messageable = message.channel
        outbox = ChannelOutbox(channel, scope.locale, reply_to=message)
        if refuse and self._engine.access.allows(scope.chat, scope.author):
            # Refused before any download or model call; nothing is stored or charged. Those
            # who may not use the bot hear that from the engine instead.
            not_an_image = messages.text("image_not_an_image", scope.locale)
            await outbox.deliver(Card(not_an_image))
            return
        wants_thread = plan.new_lineage and bool(incoming.text or images or borrowed)
        if wants_thread and self._opens_thread(message, scope):
            thread = await self._open_thread(message, incoming.text)
            if thread is not None:
                scope, channel = scope.in_thread(thread), thread
                outbox = ChannelOutbox(thread, scope.locale, mention=message.author)
        request = EditRequest(
            chat=scope.chat,
            author=scope.author,
            message_id=str(message.id),
            text=incoming.text,
            images=image_sources(images),
            reply_to=plan.reply_to,
            reply_images=image_sources(borrowed),
            continue_latest=plan.continue_latest,
            options=scope.options,
        )
        async with channel.typing():
            await self._engine.handle(request, outbox)

    def _opens_thread(self, message: discord.Message, scope: Scope) -> bool:
        # Only for people who may use the bot: a refusal needs no thread.
        return (
            self._settings.auto_thread
            and isinstance(message.channel, discord.TextChannel)
            and self._engine.access.allows(scope.chat, scope.author)
        )

    async def _open_thread(self, message: discord.Message, text: str) -> discord.Thread | None:
        try:
            return await message.create_thread(name=thread_name(text))
        except discord.HTTPException as exc:
            # Missing Create Public Threads (50013) or a thread already there: answer in place.
            log.warning(
                "could not open a thread on message %s (Discord code %s); answering in place",
                message.id,
                exc.code,
            )
            return None

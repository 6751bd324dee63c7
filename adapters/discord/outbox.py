"""The engine's `Outbox` on Discord: channel messages, or follow-ups of a deferred interaction.

Interaction tokens live 15 minutes; a step that outlives its token is posted to the channel
instead, mentioning the user, so a slow model never turns into silence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord

from adapters.discord import catalog
from adapters.discord.boundary import NEEDED_PERMISSIONS, fallback_channel, token_gone
from adapters.discord.posts import DEFAULT_UPLOAD_LIMIT, Post, Upload, compose
from adapters.discord.views import action_view
from bot.cards import Card
from bot.outcome import ResultImage

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
MISSING: Any = discord.utils.MISSING
# Model and user text must never ping anyone; mentions we mean are allowed per message.
NO_PINGS = discord.AllowedMentions.none()


def status_edit(card: Card, shown: ResultImage | None) -> dict[str, Any]:
    """What to change on a status message to show `card`: a new draft only when it changed."""
    changes: dict[str, Any] = {"content": card.text, "view": action_view(card.buttons)}
    image = card.images[0] if card.images else None
    if image is not None and image != shown:
        changes["attachments"] = [Upload(f"draft.{image.extension}", image.data).file()]
    return changes


def upload_limit_of(channel: discord.abc.Messageable) -> int:
    """The per-message upload limit of a channel (its guild's boost tier, or the default)."""
    guild = getattr(channel, "guild", None)
    return guild.filesize_limit if isinstance(guild, discord.Guild) else DEFAULT_UPLOAD_LIMIT


class ChannelOutbox:
    """Posts outcomes as messages in a channel or thread: a reply, or with a mention."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        locale: str | None,
        *,
        reply_to: discord.Message | discord.PartialMessage | None = None,
        mention: discord.User | discord.Member | None = None,
    ) -> None:
        self._channel = channel
        self._locale = locale
        self._reply_to = reply_to
        self._mention = mention
        self._status: discord.Message | None = None
        self._shown: ResultImage | None = None  # the draft the status message shows

    async def status(self, card: Card) -> None:
        changes = status_edit(card, self._shown)
        try:
            if self._status is None:
                view = changes["view"] or MISSING
                files = changes.get("attachments", MISSING)
                self._status = await self._channel.send(
                    card.text, files=files, view=view, **self._addressing()
                )
            else:
                self._status = await self._status.edit(**changes)
        except discord.HTTPException:
            log.warning("could not show a step's status", exc_info=True)
            return
        self._shown = card.images[0] if card.images else None

    async def deliver(self, card: Card) -> Sequence[str]:
        prefix = f"{self._mention.mention} " if self._mention is not None else ""
        posts = await compose(card, self._locale, upload_limit_of(self._channel), prefix)
        status, self._status = self._status, None
        if status is not None:
            # The status message (a reply to the user already) becomes the result.
            try:
                first = await status.edit(
                    content=posts[0].content or None,
                    attachments=[u.file() for u in posts[0].uploads],
                    view=action_view(posts[0].buttons),
                )
            except discord.HTTPException:
                log.info("could not turn the status into the result", exc_info=True)
                await _delete(status)
            else:
                return [str(first.id), *await self.send(posts[1:], first=False)]
        return await self.send(posts)

    async def send(self, posts: Sequence[Post], *, first: bool = True) -> list[str]:
        """Send `posts` in order; return the ids of the messages that were posted.

        The first of them addresses the user (a reply or a mention) unless `first` is False.
        """
        ids: list[str] = []
        for index, post in enumerate(posts):
            addressing = (
                self._addressing() if index == 0 and first else {"allowed_mentions": NO_PINGS}
            )
            try:
                message = await self._channel.send(
                    post.content or None,
                    files=[u.file() for u in post.uploads] or MISSING,
                    view=action_view(post.buttons) or MISSING,
                    **addressing,
                )
            except discord.Forbidden as exc:
                log.warning(
                    "missing permissions to post in channel %s (Discord code %s)",
                    getattr(self._channel, "id", "?"),
                    exc.code,
                )
                await self._explain_forbidden()
                break
            ids.append(str(message.id))
        return ids

    def _addressing(self) -> dict[str, Any]:
        if self._mention is not None:
            return {"allowed_mentions": discord.AllowedMentions(users=[self._mention])}
        if self._reply_to is not None:
            return {
                "reference": self._reply_to.to_reference(fail_if_not_exists=False),
                "allowed_mentions": discord.AllowedMentions(
                    everyone=False, users=False, roles=False, replied_user=True
                ),
            }
        return {"allowed_mentions": NO_PINGS}

    async def _explain_forbidden(self) -> None:
        # Often only Attach Files or Read Message History is missing: a plain text still works.
        note = catalog.text("missing_permissions", self._locale, names=NEEDED_PERMISSIONS)
        try:
            await self._channel.send(note, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("cannot post in channel %s at all", getattr(self._channel, "id", "?"))


async def _delete(message: discord.Message) -> None:
    try:
        await message.delete()
    except discord.HTTPException:
        log.debug("could not delete a status message", exc_info=True)


class InteractionOutbox:
    """Posts outcomes as follow-ups of a deferred interaction, or in the channel once too late."""

    def __init__(
        self, interaction: Interaction, locale: str | None, *, ephemeral: bool = False
    ) -> None:
        self._interaction = interaction
        self._locale = locale
        self._ephemeral = ephemeral  # for the caller only (as the interaction was deferred)
        self._status_shown = False
        self._shown: ResultImage | None = None

    async def status(self, card: Card) -> None:
        if self._interaction.is_expired():
            return
        try:
            await self._interaction.edit_original_response(**status_edit(card, self._shown))
        except discord.HTTPException:
            log.warning("could not show a step's status", exc_info=True)
            return
        self._status_shown = True
        self._shown = card.images[0] if card.images else None

    async def deliver(self, card: Card) -> Sequence[str]:
        interaction = self._interaction
        if interaction.is_expired():
            log.info("interaction %s expired; posting in the channel", interaction.id)
        else:
            posts = await compose(card, self._locale, interaction.filesize_limit)
            try:
                return await self._follow_up(posts)
            except discord.HTTPException as exc:
                if token_gone(exc):
                    log.info(
                        "interaction %s token is gone; posting in the channel", interaction.id
                    )
                else:
                    log.warning("follow-up failed; posting in the channel", exc_info=True)
        if self._ephemeral:  # meant for the caller alone: never for the whole channel
            log.info("interaction %s: a private answer could not be delivered", interaction.id)
            return []
        channel = fallback_channel(interaction)
        return await ChannelOutbox(channel, self._locale, mention=interaction.user).deliver(card)

    async def _follow_up(self, posts: Sequence[Post]) -> list[str]:
        ids: list[str] = []
        for index, post in enumerate(posts):
            view = action_view(post.buttons)
            files = [u.file() for u in post.uploads]
            if index == 0 and self._status_shown:
                # The status took the deferred message; the result replaces it (and Stop).
                message: discord.Message = await self._interaction.edit_original_response(
                    content=post.content, attachments=files, view=view, allowed_mentions=NO_PINGS
                )
            else:
                message = await self._interaction.followup.send(
                    post.content,
                    files=files or MISSING,
                    view=view or MISSING,
                    allowed_mentions=NO_PINGS,
                    ephemeral=self._ephemeral,
                    wait=True,
                )
            ids.append(str(message.id))
        return ids

"""What users post: messages, replies, mentions and forwards, dispatched as MESSAGE_CREATE."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from tests.fakes.discord.bot_messages import BotMessages
from tests.fakes.discord.protocol import (
    FLAG_HAS_SNAPSHOT,
    MESSAGE_REFERENCE_FORWARD,
    Json,
    nested,
    now_iso,
)


class UserMessages(BotMessages):
    """Test helpers: users post in channels (and earlier bot messages exist)."""

    async def user_message(
        self,
        channel_id: int | None = None,
        author: Json | None = None,
        content: str = "",
        attachments: Iterable[Json] = (),
        reply_to: Json | None = None,
        mentions_bot: bool = False,
        *,
        reply_ping: bool = True,
        forward: Json | None = None,
    ) -> Json:
        """A user posts a message: dispatch MESSAGE_CREATE as Discord sends it, store it (so
        the bot can fetch it and reply to it) and return the payload.

        ``mentions_bot`` prepends ``<@bot_id>`` to the content unless already there and
        lists the bot in ``mentions``. ``reply_to`` makes it a reply (type 19,
        ``message_reference`` and ``referenced_message``); ``reply_ping`` (Discord's default)
        adds the replied-to author to ``mentions``. ``forward`` forwards that message: a
        FORWARD reference (type 1) and its snapshot in ``message_snapshots``, as Discord sends
        it (``content`` is the sender's own comment, if any).
        """
        self._require_connection()
        channel_id = channel_id or self.channel_id
        channel = self._channel_or_404(channel_id)
        author = author or self.user
        guild = self._guild_of(channel)
        mentions: list[Json] = []
        bot_mention = f"<@{self.bot_user['id']}>"
        if mentions_bot:
            if bot_mention not in content:
                content = f"{bot_mention} {content}".strip()
            mentions.append(dict(self.bot_user))
        msg: Json = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [dict(a) for a in attachments],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "nonce": str(self.snowflake()),
        }
        if reply_to is not None:
            ref_id = int(reply_to["id"])
            referenced = self._messages.get(ref_id, reply_to)
            msg["type"] = 19
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(ref_id),
                "channel_id": str(referenced.get("channel_id", channel_id)),
            }
            if guild is not None:
                msg["message_reference"]["guild_id"] = str(guild.id)
            msg["referenced_message"] = nested(referenced)
            ref_author = referenced.get("author")
            if (
                reply_ping
                and ref_author
                and ref_author["id"] != author["id"]
                and all(m["id"] != ref_author["id"] for m in mentions)
            ):
                mentions.append(dict(ref_author))
        if forward is not None:
            self._add_forward(msg, forward)
        if guild is not None:
            msg["guild_id"] = str(guild.id)
            msg["member"] = self._partial_member(guild, author)
            for mention in mentions:
                mention["member"] = self._partial_member(guild, mention)
        self._store_message(msg)
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    def add_old_bot_message(
        self, content: str, components: list[Json], channel_id: int | None = None
    ) -> Json:
        """A message the bot posted before this test (an earlier version, say): stored, not
        dispatched, so users can press its buttons."""
        channel = self._channel_or_404(channel_id or self.channel_id)
        msg = self._new_bot_message(
            channel, {"content": content, "components": components}, [], self._guild_of(channel)
        )
        self._store_message(msg)
        return msg

    def _add_forward(self, msg: Json, origin: Json) -> None:
        """Make ``msg`` a forward of ``origin``: a FORWARD reference and one snapshot."""
        origin = self._messages.get(int(origin["id"]), origin)
        reference: Json = {
            "type": MESSAGE_REFERENCE_FORWARD,
            "message_id": str(origin["id"]),
            "channel_id": str(origin["channel_id"]),
        }
        if "guild_id" in origin:
            reference["guild_id"] = origin["guild_id"]
        msg["message_reference"] = reference
        # A snapshot is a subset of the message: no author, no id, no reference.
        msg["message_snapshots"] = [
            {
                "message": {
                    "type": origin.get("type", 0),
                    "content": origin.get("content", ""),
                    "embeds": copy.deepcopy(origin.get("embeds", [])),
                    "attachments": copy.deepcopy(origin.get("attachments", [])),
                    "timestamp": origin.get("timestamp", now_iso()),
                    "edited_timestamp": origin.get("edited_timestamp"),
                    "flags": origin.get("flags", 0),
                    "mentions": [],
                    "mention_roles": [],
                    "components": copy.deepcopy(origin.get("components", [])),
                }
            }
        ]
        msg["flags"] = int(msg.get("flags", 0)) | FLAG_HAS_SNAPSHOT

"""The fake's world: the bot, guilds, channels, roles, users, messages, attachments, calls.

Every part of the fake (gateway, REST, interactions, what users do) is a mixin over this state;
``DiscordFake`` combines them into one object.
"""

from __future__ import annotations

import copy
import hashlib
import mimetypes
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from aiohttp import web

from tests.fakes.discord.protocol import (
    API_PREFIX,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    PRIVILEGED_INTENTS,
    ApiError,
    Json,
    SnowflakeGenerator,
    image_size,
    now_iso,
    upload_limit_for_tier,
)
from tests.fakes.discord.records import Call, FakeGuild, FakeInteraction
from tests.fakes.recording import DEFAULT_TIMEOUT, CallLog, FailureScript

if TYPE_CHECKING:
    from tests.fakes.discord.gateway import GatewayConnection, SessionState

T = TypeVar("T")


@dataclass(frozen=True)
class ScriptedFailure:
    """How ``fail_next`` answers a matching call instead of handling it."""

    status: int
    body: Json
    headers: dict[str, str]


class DiscordWorld:
    """State shared by every part of the fake, and the lookups they all use."""

    def __init__(
        self,
        *,
        bot_name: str = "bananabot",
        guild_name: str = "Test Guild",
        premium_tier: int = 0,
        guild_locale: str = "en-US",
        heartbeat_interval_ms: int = 45000,
    ) -> None:
        self.snowflake = SnowflakeGenerator()
        self.heartbeat_interval_ms = heartbeat_interval_ms

        # Configuration knobs tests may flip.
        self.close_on_identify: int | None = None
        """Close the gateway with this code right after IDENTIFY (e.g. 4014, 4004)."""
        self.unreadable_ready_count = 0
        """Send this many READY payloads without ``guilds`` (a shape discord.py cannot read)."""
        self.allowed_privileged_intents: int = PRIVILEGED_INTENTS
        """Privileged intents "enabled in the developer portal"; others requested -> 4014."""
        self.application_flags: int = 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED
        self.echo_own_messages = True
        """Dispatch MESSAGE_CREATE/UPDATE/DELETE for the bot's own messages, like Discord."""
        self.interaction_deadline: float | None = None
        """Seconds after dispatch within which the first callback must arrive (None: off)."""
        self.followup_fills_deferred = True
        """First follow-up after a type 5 defer fills the loading original message."""
        self.upload_limit: int | None = None
        """Upload limit in bytes everywhere (None: Discord's, by the guild's boost tier)."""
        self.recommended_shards = 1
        """The ``shards`` GET /gateway/bot recommends."""

        # Recorded traffic.
        self._log: CallLog[Call] = CallLog(lambda c: f"{c.method} {c.path} -> {c.status}")
        self.calls: list[Call] = self._log.calls
        self.identify_payloads: list[Json] = []
        self.identified_intents: int | None = None
        self.identified_shards: list[tuple[int, int]] = []
        """``[shard_id, shard_count]`` of each sharded IDENTIFY, in order."""
        self.dispatched: list[tuple[tuple[int, int] | None, str, Json]] = []
        """(shard, event, data) of each event ``dispatch`` delivered; shard None: unsharded."""
        self.gateway_queries: list[dict[str, str]] = []
        self.cdn_downloads: list[str] = []
        self.interactions: dict[str, FakeInteraction] = {}
        self.global_commands: list[Json] = []
        self.guild_commands: dict[int, list[Json]] = {}

        # The world.
        self.application_id = self.snowflake()
        self.bot_user: Json = {
            "id": str(self.application_id),
            "username": bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "email": None,
        }
        self.owner_user: Json = self._user_payload(self.snowflake(), "owner", "Owner")
        self._users: dict[int, Json] = {}
        self._guilds: dict[int, FakeGuild] = {}
        self._channels: dict[int, Json] = {}
        self._messages: dict[int, Json] = {}
        self._message_order: list[int] = []
        self._attachments: dict[int, tuple[bytes, str, str]] = {}
        self._command_ids: dict[tuple[str, int], int] = {}
        self._failures: FailureScript[Call, ScriptedFailure] = FailureScript()
        self._connections: list[GatewayConnection] = []
        self._sessions: dict[str, SessionState] = {}

        guild = self.add_guild(guild_name, premium_tier=premium_tier, locale=guild_locale)
        self.guild_id: int = guild.id
        self.channel_id: int = guild.text_channel_id
        self.user: Json = self.add_user("alice", global_name="Alice")
        self.user_id: int = int(self.user["id"])
        self.dm_channel_id: int = int(self.add_dm_channel(self.user)["id"])

        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port``: the CDN's host too."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        """The REST base (discord.py's ``Route.BASE``)."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """The gateway WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def _user_payload(self, user_id: int, username: str, global_name: str | None) -> Json:
        return {
            "id": str(user_id),
            "username": username,
            "discriminator": "0",
            "global_name": global_name,
            "avatar": None,
            "bot": False,
            "public_flags": 0,
        }

    def _member_payload(self, user: Json, role_ids: Iterable[int] = ()) -> Json:
        return {
            "user": user,
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in role_ids],
            "joined_at": now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def add_guild(
        self,
        name: str = "Another Guild",
        *,
        premium_tier: int = 0,
        locale: str = "en-US",
        channel_name: str = "general",
        owner: Json | None = None,
        shard: tuple[int, int] | None = None,
    ) -> FakeGuild:
        """Add a guild with an @everyone role, a bot role, a text channel and the bot as member.

        Call before the client connects (GUILD_CREATE is sent after IDENTIFY), or call
        ``await dc.dispatch_guild_create(guild.id)`` afterwards. ``shard`` (id, count) picks
        an id whose events Discord sends on that shard.
        """
        guild_id = self.snowflake.on_shard(*shard) if shard else self.snowflake()
        owner = owner or self.owner_user
        guild = FakeGuild(
            id=guild_id,
            name=name,
            owner_id=int(owner["id"]),
            premium_tier=premium_tier,
            preferred_locale=locale,
        )
        guild.roles.append(self._role_payload(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0))
        bot_role = self._role_payload(self.snowflake(), self.bot_user["username"], 0, 1)
        bot_role["permissions"] = str(BOT_ROLE_PERMISSIONS)
        bot_role["managed"] = True
        bot_role["tags"] = {"bot_id": self.bot_user["id"]}
        guild.roles.append(bot_role)
        self._guilds[guild_id] = guild
        self.add_text_channel(guild_id, channel_name)
        guild.members[int(owner["id"])] = self._member_payload(owner)
        guild.members[self.application_id] = self._member_payload(
            self.bot_user, [int(bot_role["id"])]
        )
        return guild

    @staticmethod
    def _role_payload(role_id: int, name: str, permissions: int, position: int) -> Json:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def guild(self, guild_id: int | None = None) -> FakeGuild:
        """A guild by id (default: the default guild)."""
        return self._guilds[guild_id or self.guild_id]

    def add_text_channel(self, guild_id: int | None = None, name: str = "images") -> Json:
        """Add a text channel to a guild."""
        guild = self.guild(guild_id)
        channel: Json = {
            "id": str(self.snowflake()),
            "type": 0,
            "guild_id": str(guild.id),
            "name": name,
            "position": len(guild.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        guild.channels.append(channel)
        self._channels[int(channel["id"])] = channel
        return channel

    def add_role(
        self,
        name: str,
        permissions: int,
        *,
        guild_id: int | None = None,
        members: Iterable[Json] = (),
    ) -> Json:
        """Add a role (permissions as an int bit set) and give it to ``members``."""
        guild = self.guild(guild_id)
        role = self._role_payload(self.snowflake(), name, permissions, len(guild.roles))
        guild.roles.append(role)
        for user in members:
            guild.members[int(user["id"])]["roles"].append(role["id"])
        return role

    def add_user(
        self,
        username: str,
        *,
        global_name: str | None = None,
        bot: bool = False,
        guild_id: int | None = None,
        member: bool = True,
        roles: Iterable[Json] = (),
    ) -> Json:
        """Add a user; by default a member of the (default) guild, with the given roles."""
        user = self._user_payload(self.snowflake(), username, global_name)
        user["bot"] = bot
        self._users[int(user["id"])] = user
        if member:
            guild = self.guild(guild_id)
            guild.members[int(user["id"])] = self._member_payload(
                user, [int(r["id"]) for r in roles]
            )
        return user

    def add_dm_channel(self, user: Json) -> Json:
        """Add a DM channel between the bot and ``user``."""
        channel: Json = {
            "id": str(self.snowflake()),
            "type": 1,
            "recipients": [user],
            "last_message_id": None,
            "flags": 0,
        }
        self._channels[int(channel["id"])] = channel
        return channel

    def channel(self, channel_id: int) -> Json:
        """A channel (or thread) by id."""
        return self._channels[channel_id]

    def add_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
        description: str | None = None,
    ) -> Json:
        """Register bytes on the fake CDN and return a full attachment object."""
        return self._store_attachment(
            data, filename, content_type, channel_id or self.channel_id, description
        )

    def _store_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None,
        channel_id: int,
        description: str | None = None,
    ) -> Json:
        attachment_id = self.snowflake()
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or content_type or None
        self._attachments[attachment_id] = (data, filename, content_type or "")
        expires = int(time.time()) + 24 * 3600
        signature = hashlib.sha256(data[:4096] + filename.encode()).hexdigest()
        query = f"?ex={expires:x}&is={int(time.time()):x}&hm={signature}&"
        path = f"attachments/{channel_id}/{attachment_id}/{filename}"
        attachment: Json = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": f"{self.base_url}/{path}{query}",
            "proxy_url": f"{self.base_url}/media/{path}{query}",
        }
        if content_type:
            attachment["content_type"] = content_type
        if description is not None:
            attachment["description"] = description
        size = image_size(data)
        if size is not None:
            attachment["width"], attachment["height"] = size
        return attachment

    def attachment_bytes(self, attachment: Json | str) -> bytes:
        """Bytes behind an attachment object (or its URL) served by the fake CDN."""
        url = attachment if isinstance(attachment, str) else str(attachment["url"])
        match = re.search(r"/attachments/\d+/(\d+)/", url)
        if match is None:
            raise KeyError(url)
        return self._attachments[int(match.group(1))][0]

    def message(self, message_id: int | str) -> Json | None:
        """A stored message by id (None once deleted or unknown)."""
        return self._messages.get(int(message_id))

    def sent_messages(
        self, channel_id: int | None = None, *, include_ephemeral: bool = False
    ) -> list[Json]:
        """Messages the bot created (channel sends, interaction responses, follow-ups), oldest
        first; ``channel_id=None`` means all channels."""
        out: list[Json] = []
        for mid in self._message_order:
            msg = self._messages.get(mid)
            if msg is None or msg["author"]["id"] != self.bot_user["id"]:
                continue
            if channel_id is not None and int(msg["channel_id"]) != channel_id:
                continue
            if not include_ephemeral and int(msg.get("flags", 0)) & FLAG_EPHEMERAL:
                continue
            out.append(msg)
        return out

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        """Recorded REST calls of ``method`` whose path matches ``path_regex``."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method.upper() and pattern.search(c.path)]

    def _upload_limit(self, guild: FakeGuild | None) -> int:
        """The per-message upload limit where ``guild`` (None: a DM) is."""
        if self.upload_limit is not None:
            return self.upload_limit
        return guild.upload_limit if guild is not None else upload_limit_for_tier(0)

    def _channel_or_404(self, channel_id: int | str) -> Json:
        channel = self._channels.get(int(channel_id))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _guild_of(self, channel: Json) -> FakeGuild | None:
        guild_id = channel.get("guild_id")
        return self._guilds[int(guild_id)] if guild_id else None

    def _message_or_404(self, channel_id: int | str, message_id: int | str) -> Json:
        msg = self._messages.get(int(message_id))
        if msg is None or int(msg["channel_id"]) != int(channel_id):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def _store_message(self, msg: Json) -> None:
        self._messages[int(msg["id"])] = msg
        self._message_order.append(int(msg["id"]))
        channel = self._channels.get(int(msg["channel_id"]))
        if channel is not None:
            channel["last_message_id"] = msg["id"]

    def _user_ref(self, user: Json | int | None) -> Json:
        if user is None:
            return self.user
        if isinstance(user, int):
            return self._users[user]
        return user

    def _member_for(self, guild: FakeGuild, user: Json) -> Json:
        member = guild.members.get(int(user["id"]))
        if member is None:
            member = self._member_payload(user)
            guild.members[int(user["id"])] = member
        return member

    def _partial_member(self, guild: FakeGuild, user: Json) -> Json:
        member = copy.deepcopy(self._member_for(guild, user))
        member.pop("user", None)
        return member

    async def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded, re-checked on every change
    ) -> T:
        """Return ``condition()``'s first truthy value, re-checked after every REST call and
        gateway event; ``TimeoutError`` listing recent calls after ``timeout``."""
        return await self._log.wait_for(condition, timeout)

    async def wait_for_followup(
        self,
        interaction: FakeInteraction,
        count: int = 1,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - a thin wrapper of wait_for
    ) -> list[Json]:
        """Wait until ``interaction`` has ``count`` follow-ups; return them all."""
        return await self.wait_for(
            lambda: interaction.followups if len(interaction.followups) >= count else None,
            timeout,
        )

    async def wait_for_callback(
        self,
        interaction: FakeInteraction,
        count: int = 1,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - a thin wrapper of wait_for
    ) -> list[Json]:
        """Wait until the bot answered ``interaction`` ``count`` times; return the callbacks."""
        return await self.wait_for(
            lambda: interaction.callbacks if len(interaction.callbacks) >= count else None,
            timeout,
        )

    async def wait_for_messages(
        self,
        channel_id: int | None = None,
        count: int = 1,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - a thin wrapper of wait_for
    ) -> list[Json]:
        """Wait until the bot posted ``count`` messages (in ``channel_id``); return them."""

        def check() -> list[Json] | None:
            sent = self.sent_messages(channel_id)
            return sent if len(sent) >= count else None

        return await self.wait_for(check, timeout)

"""Loopback fake of Discord's REST API, attachment CDN and gateway, for the real discord.py.

The fake speaks the wire formats discord.py 2.7.1 expects, so tests drive a real
``discord.Client`` and ``app_commands.CommandTree`` against it::

    async with DiscordFake() as dc:
        with point_discord_at(dc):
            client = discord.Client(intents=intents, guild_ready_timeout=0.1)
            task = asyncio.create_task(client.start("fake-token"))
            ...
            inter = await dc.slash_command("edit", {"image": dc.add_attachment(png, "a.png"),
                                                    "prompt": "make it blue"})
            [reply] = await dc.wait_for_followup(inter)

The default world has one guild (``dc.guild_id``) with a text channel (``dc.channel_id``),
the bot as a member, a user ``dc.user`` who is a member, and a DM channel between the bot
and that user (``dc.dm_channel_id``).

Modelled Discord behaviour (beyond echoing):
- message content intent: without MESSAGE_CONTENT, guild messages arrive with empty
  content/attachments/embeds/components unless they mention the bot (DMs and the bot's own
  messages are exempt); GUILD_MESSAGES / DIRECT_MESSAGES gate MESSAGE_* events;
- privileged intents not allowed (``allowed_privileged_intents``) close the gateway with 4014;
- interaction tokens: callback once (40060 after that), follow-ups only after the callback
  (10015 before), ``expire_interaction`` and an optional callback deadline (10062);
- after a "thinking" defer (type 5) the first follow-up fills the loading original message;
- 2000-character content limit (50035), upload size limit by boost tier (40005), empty
  message (50006), unknown channel/message (10003/10008), reply to unknown message (50035);
- a thread started from a message has the message's id, and THREAD_CREATE is dispatched;
- the bot's own messages are echoed as MESSAGE_CREATE/UPDATE/DELETE like Discord does.

This module lives in package ``tests.fakes``; ``import discord`` here is absolute and resolves
to the real library.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import io
import json
import math
import mimetypes
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes.loopback import serve

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` (deprecated since 3.11); pytest runs -W error.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    import discord.gateway
    import discord.http

T = TypeVar("T")
Json = dict[str, Any]

__all__ = [
    "Call",
    "DiscordFake",
    "FakeGuild",
    "FakeInteraction",
    "Upload",
    "point_discord_at",
]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000

# Intent bits (discord/flags.py)
INTENT_GUILDS = 1 << 0
INTENT_MEMBERS = 1 << 1
INTENT_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DM_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT

# Message flags
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_HAS_SNAPSHOT = 1 << 14
MESSAGE_REFERENCE_FORWARD = 1

# Interaction types / callback types
INTERACTION_PING = 1
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5

CALLBACK_PONG = 1
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9

MIB = 1024 * 1024
ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value
EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
    use_application_commands=True,
).value
BOT_ROLE_PERMISSIONS = (
    EVERYONE_PERMISSIONS
    | discord.Permissions(
        manage_messages=True, manage_threads=True, create_private_threads=True
    ).value
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def upload_limit_for_tier(premium_tier: int) -> int:
    """Discord's per-message upload limit for a guild boost tier (bytes)."""
    return {2: 50 * MIB, 3: 100 * MIB}.get(premium_tier, 10 * MIB)


class SnowflakeGenerator:
    """Time-based, strictly increasing snowflakes (discord.py derives created_at from them)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate


class ApiError(Exception):
    """Raised by handlers to answer with Discord's JSON error shape."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        payload: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            payload["errors"] = self.errors
        return payload


def _form_error(field_name: str, code: str, message: str) -> ApiError:
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


@dataclass
class Upload:
    """One file part of a multipart request."""

    part: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One REST request the client made (path is relative to ``/api/v10``, no query)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    uploads: list[Upload]
    headers: dict[str, str]
    status: int = 0

    @property
    def files(self) -> dict[str, bytes]:
        """Uploaded file bytes by filename."""
        return {u.filename: u.data for u in self.uploads}

    @property
    def parts(self) -> dict[str, bytes]:
        """Uploaded file bytes by multipart part name (``files[0]`` ...)."""
        return {u.part: u.data for u in self.uploads}


_CALL_KEY = web.RequestKey("bananabot_discord_fake_call", Call)


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    payload: Json
    channel_id: int
    guild_id: int | None
    created_monotonic: float
    callbacks: list[Json] = field(default_factory=list)
    """Callback bodies in order: ``{"type": 5, "data": {...}, "files": {filename: bytes}}``."""
    followups: list[Json] = field(default_factory=list)
    """Messages created by follow-ups (a follow-up that filled a deferred original is the
    original message, same id)."""
    original: Json | None = None
    """The original response message (type 4/5 callbacks, or the component message for 6/7)."""
    expired: bool = False

    @property
    def callback_types(self) -> list[int]:
        return [int(c["type"]) for c in self.callbacks]

    @property
    def modal(self) -> Json | None:
        """The modal (callback type 9 data) the bot opened in answer, if any."""
        for callback in reversed(self.callbacks):
            if callback["type"] == CALLBACK_MODAL:
                data: Json = callback.get("data") or {}
                return data
        return None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def message(self) -> Json | None:
        """The message a component interaction came from."""
        message: Json | None = self.payload.get("message")
        return message


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    premium_tier: int
    preferred_locale: str
    channels: list[Json] = field(default_factory=list)
    threads: list[Json] = field(default_factory=list)
    roles: list[Json] = field(default_factory=list)
    members: dict[int, Json] = field(default_factory=dict)
    joined_at: str = field(default_factory=now_iso)

    @property
    def text_channel_id(self) -> int:
        return next(int(c["id"]) for c in self.channels if c["type"] == 0)

    @property
    def upload_limit(self) -> int:
        return upload_limit_for_tier(self.premium_tier)

    def role(self, role_id: int) -> Json | None:
        return next((r for r in self.roles if int(r["id"]) == role_id), None)

    def permissions_of(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        everyone = self.role(self.id)
        value = int(everyone["permissions"]) if everyone else 0
        member = self.members.get(user_id)
        for role_id in member["roles"] if member else []:
            role = self.role(int(role_id))
            if role is not None:
                value |= int(role["permissions"])
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def create_payload(self) -> Json:
        """The GUILD_CREATE payload (as Discord sends it after READY)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(self.premium_tier, 0),
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.preferred_locale,
            "system_channel_id": str(self.text_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": copy.deepcopy(self.roles),
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "application_id": None,
            "incidents_data": None,
            "unavailable": False,
            "large": False,
            "lazy": True,
            "joined_at": self.joined_at,
            "member_count": len(self.members),
            "members": copy.deepcopy(list(self.members.values())),
            "channels": copy.deepcopy(self.channels),
            "threads": copy.deepcopy(self.threads),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class _ScriptedFailure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Json
    headers: dict[str, str]
    times: int


@dataclass
class _SessionState:
    session_id: str
    intents: int
    seq: int = 0


class _GatewayConnection:
    """One WebSocket connection to the fake gateway."""

    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ws = ws
        self.query = query
        self.state: _SessionState | None = None
        self.closed = False
        self._lock = asyncio.Lock()

    @property
    def identified(self) -> bool:
        return self.state is not None and not self.closed

    async def send(self, payload: Json) -> None:
        async with self._lock:
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: Json) -> None:
        assert self.state is not None
        async with self._lock:
            self.state.seq += 1
            frame = {"op": 0, "t": event, "s": self.state.seq, "d": data}
            await self.ws.send_str(json.dumps(frame))


@contextlib.contextmanager
def point_discord_at(fake: DiscordFake) -> Iterator[DiscordFake]:
    """Point discord.py's REST base and default gateway at ``fake``; restore both on exit."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


class DiscordFake:
    """Discord REST + CDN + gateway on 127.0.0.1 (OS-chosen port)."""

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

        # --- configuration knobs tests may flip ---
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

        # --- recorded traffic ---
        self.calls: list[Call] = []
        self.identify_payloads: list[Json] = []
        self.identified_intents: int | None = None
        self.gateway_queries: list[dict[str, str]] = []
        self.cdn_downloads: list[str] = []
        self.interactions: dict[str, FakeInteraction] = {}
        self.global_commands: list[Json] = []
        self.guild_commands: dict[int, list[Json]] = {}

        # --- world ---
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
        self._failures: list[_ScriptedFailure] = []
        self._connections: list[_GatewayConnection] = []
        self._sessions: dict[str, _SessionState] = {}
        self._cond = asyncio.Condition()

        guild = self.add_guild(guild_name, premium_tier=premium_tier, locale=guild_locale)
        self.guild_id: int = guild.id
        self.channel_id: int = guild.text_channel_id
        self.user: Json = self.add_user("alice", global_name="Alice")
        self.user_id: int = int(self.user["id"])
        self.dm_channel_id: int = int(self.add_dm_channel(self.user)["id"])

        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DiscordFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=200 * MIB)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{cid}/{aid}/{filename}", self._cdn)
        app.router.add_get("/media/attachments/{cid}/{aid}/{filename}", self._cdn)
        p = API_PREFIX
        routes: list[tuple[str, str, Callable[[web.Request], Any]]] = [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/applications/{app}/commands", self._get_commands),
            ("PUT", "/applications/{app}/commands", self._put_commands),
            ("GET", "/applications/{app}/guilds/{guild}/commands", self._get_commands),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._put_commands),
            ("GET", "/channels/{cid}", self._get_channel),
            ("GET", "/channels/{cid}/messages", self._get_messages),
            ("POST", "/channels/{cid}/messages", self._post_message),
            ("GET", "/channels/{cid}/messages/{mid}", self._get_message),
            ("PATCH", "/channels/{cid}/messages/{mid}", self._patch_message),
            ("DELETE", "/channels/{cid}/messages/{mid}", self._delete_message),
            ("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._reaction),
            ("DELETE", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._reaction),
            ("POST", "/channels/{cid}/typing", self._typing),
            ("POST", "/channels/{cid}/messages/{mid}/threads", self._thread_from_message),
            ("POST", "/channels/{cid}/threads", self._thread_without_message),
            ("POST", "/interactions/{iid}/{token}/callback", self._interaction_callback),
            ("POST", "/webhooks/{app}/{token}", self._webhook_execute),
            ("GET", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get),
            ("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_patch),
            ("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, p + path, handler)
        self._runner, self.port = await serve(app, shutdown_timeout=1.0)

    async def close(self) -> None:
        for conn in list(self._connections):
            conn.closed = True
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ------------------------------------------------------------------ world builders

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
    ) -> FakeGuild:
        """Add a guild with an @everyone role, a bot role, a text channel and the bot as member.

        Call before the client connects (GUILD_CREATE is sent after IDENTIFY), or call
        ``await dc.dispatch_guild_create(guild.id)`` afterwards.
        """
        guild_id = self.snowflake()
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
        return self._guilds[guild_id or self.guild_id]

    def add_text_channel(self, guild_id: int | None = None, name: str = "images") -> Json:
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
        size = _image_size(data)
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

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        retry_after: float = 0.05,
        global_: bool = False,
        times: int = 1,
        *,
        code: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching REST calls with an error instead of handling them.

        ``path_regex`` is searched (re.search) in the path after ``/api/v10`` (no query).
        429 replies carry Discord's body, ``Retry-After`` and ``Via`` (discord.py treats a 429
        without ``Via`` as a Cloudflare ban and raises instead of retrying). Other statuses get
        ``{"message", "code"}`` with defaults: 403 Missing Permissions 50013; 404 Unknown
        interaction 10062 / Unknown Webhook 10015 / Unknown Message 10008 by path.
        """
        headers: dict[str, str] = {}
        if status == 429:
            body: Json = {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": global_,
            }
            if code is not None:
                body["code"] = code
            headers = {
                "Retry-After": str(max(1, math.ceil(retry_after))),
                "Via": "1.1 google",
                "X-RateLimit-Scope": "global" if global_ else "user",
            }
            if global_:
                headers["X-RateLimit-Global"] = "true"
            else:
                headers.update(
                    {
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    }
                )
        else:
            default_code, default_message = _default_error(status, path_regex)
            body = {
                "message": message if message is not None else default_message,
                "code": code if code is not None else default_code,
            }
        self._failures.append(
            _ScriptedFailure(method.upper(), re.compile(path_regex), status, body, headers, times)
        )

    def expire_interaction(self, interaction: FakeInteraction | str) -> None:
        """Later callbacks answer 404 10062 and follow-ups/edits 404 10015."""
        token = interaction if isinstance(interaction, str) else interaction.token
        self.interactions[token].expired = True

    # ------------------------------------------------------------------ inspection

    def message(self, message_id: int | str) -> Json | None:
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
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method.upper() and pattern.search(c.path)]

    @property
    def connected(self) -> int:
        """Number of identified gateway connections."""
        return sum(1 for c in self._connections if c.identified)

    # ------------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10.0) -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` is truthy (re-checked after every REST call and gateway
        event) and return its value."""

        async def _wait() -> T:
            async with self._cond:
                while True:
                    value = predicate()
                    if value:
                        return value
                    await self._cond.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            recent = ", ".join(f"{c.method} {c.path} -> {c.status}" for c in self.calls[-8:])
            raise TimeoutError(
                f"condition not met within {timeout}s; recent calls: {recent}"
            ) from None

    async def wait_for_followup(
        self,
        interaction: FakeInteraction,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Json]:
        return await self.wait_for(
            lambda: interaction.followups if len(interaction.followups) >= count else None,
            timeout,
        )

    async def wait_for_callback(
        self,
        interaction: FakeInteraction,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Json]:
        return await self.wait_for(
            lambda: interaction.callbacks if len(interaction.callbacks) >= count else None,
            timeout,
        )

    async def wait_for_messages(
        self,
        channel_id: int | None = None,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Json]:
        def check() -> list[Json] | None:
            sent = self.sent_messages(channel_id)
            return sent if len(sent) >= count else None

        return await self.wait_for(check, timeout)

    # ------------------------------------------------------------------ gateway events

    def _require_connection(self) -> None:
        if not any(c.identified for c in self._connections):
            raise RuntimeError("no identified gateway connection: is the client ready?")

    async def dispatch(self, event: str, data: Json) -> int:
        """Send a raw DISPATCH to every identified connection; returns deliveries."""
        delivered = 0
        for conn in list(self._connections):
            if not conn.identified or conn.state is None:
                continue
            payload = self._filter_for(conn.state.intents, event, data)
            if payload is None:
                continue
            try:
                await conn.dispatch(event, payload)
            except (ConnectionError, RuntimeError):
                conn.closed = True
                continue
            delivered += 1
        await self._notify()
        return delivered

    def _filter_for(self, intents: int, event: str, data: Json) -> Json | None:
        if not event.startswith("MESSAGE_"):
            return data
        in_guild = "guild_id" in data
        needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DM_MESSAGES
        if not intents & needed:
            return None
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not intents & INTENT_MESSAGE_CONTENT:
            return self._redact(data)
        return data

    def _redact(self, message: Json) -> Json:
        """Apply the message-content-intent rule to a message seen without the intent."""
        bot_id = self.bot_user["id"]
        visible = (
            "guild_id" not in message
            or message.get("author", {}).get("id") == bot_id
            or any(m.get("id") == bot_id for m in message.get("mentions", []))
        )
        out = dict(message)
        if not visible:
            out.update(content="", embeds=[], attachments=[], components=[])
            out.pop("poll", None)
            if "message_snapshots" in out:
                out["message_snapshots"] = [
                    {"message": {**s["message"], "content": "", "embeds": [], "attachments": []}}
                    for s in out["message_snapshots"]
                ]
        ref = message.get("referenced_message")
        if isinstance(ref, dict):
            ref_out = dict(ref)
            if "guild_id" not in ref_out and "guild_id" in message:
                ref_out["guild_id"] = message["guild_id"]
            ref_out = self._redact(ref_out)
            if "guild_id" not in ref:
                ref_out.pop("guild_id", None)
            out["referenced_message"] = ref_out
        return out

    async def dispatch_guild_create(self, guild_id: int) -> None:
        await self.dispatch("GUILD_CREATE", self._guilds[guild_id].create_payload())

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
            msg["referenced_message"] = _nested(referenced)
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

    def _command_id(self, name: str, type_: int, guild_id: int | None) -> tuple[int, bool]:
        """(command id, registered as a guild command for guild_id)."""
        if guild_id is not None:
            for cmd in self.guild_commands.get(guild_id, []):
                if cmd["name"] == name and int(cmd.get("type", 1)) == type_:
                    return int(cmd["id"]), True
        for cmd in self.global_commands:
            if cmd["name"] == name and int(cmd.get("type", 1)) == type_:
                return int(cmd["id"]), False
        key = (name, type_)
        if key not in self._command_ids:
            self._command_ids[key] = self.snowflake()
        return self._command_ids[key], False

    def _command_data(self, name: str, type_: int, guild_id: int | None) -> Json:
        command_id, is_guild = self._command_id(name, type_, guild_id)
        data: Json = {"id": str(command_id), "name": name, "type": type_}
        if is_guild and guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    async def slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        attachments: Iterable[Json] = (),
        *,
        user: Json | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
        subcommand: str | None = None,
    ) -> FakeInteraction:
        """A user runs ``/name``. Option values map to Discord option types: str 3, bool 5,
        int 4, float 10, attachment object (has "filename") 11 via ``resolved.attachments``,
        user object (has "username") 6 via ``resolved.users``/``members``. ``attachments``
        adds further attachments to ``resolved`` only. The guild is the channel's guild
        (none for a DM channel)."""
        channel_id = channel_id or self.channel_id
        guild = self._guild_of(self._channel_or_404(channel_id))
        resolved: Json = {}
        built = [
            self._option(opt_name, value, resolved, guild)
            for opt_name, value in (options or {}).items()
        ]
        for attachment in attachments:
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        data = self._command_data(name, 1, guild.id if guild else None)
        if subcommand is not None:
            built = [{"type": 1, "name": subcommand, "options": built}]
        data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_APPLICATION_COMMAND, data, user=user, channel_id=channel_id, locale=locale
        )

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user: Json | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user types into option ``focused`` of ``/name`` (type 4; the typed value so far
        is ``options[focused]``, a string). The answer must be callback type 8."""
        channel_id = channel_id or self.channel_id
        guild = self._guild_of(self._channel_or_404(channel_id))
        resolved: Json = {}
        built = []
        for opt_name, value in options.items():
            option = self._option(opt_name, value, resolved, guild)
            if opt_name == focused:
                option["focused"] = True
            built.append(option)
        data = self._command_data(name, 1, guild.id if guild else None)
        data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_AUTOCOMPLETE, data, user=user, channel_id=channel_id, locale=locale
        )

    def _option(self, name: str, value: Any, resolved: Json, guild: FakeGuild | None) -> Json:
        if isinstance(value, bool):
            return {"name": name, "type": 5, "value": value}
        if isinstance(value, int):
            return {"name": name, "type": 4, "value": value}
        if isinstance(value, float):
            return {"name": name, "type": 10, "value": value}
        if isinstance(value, str):
            return {"name": name, "type": 3, "value": value}
        if isinstance(value, dict) and "filename" in value:
            resolved.setdefault("attachments", {})[value["id"]] = value
            return {"name": name, "type": 11, "value": value["id"]}
        if isinstance(value, dict) and "username" in value:
            resolved.setdefault("users", {})[value["id"]] = value
            if guild is not None:
                resolved.setdefault("members", {})[value["id"]] = self._partial_member(
                    guild, value
                )
            return {"name": name, "type": 6, "value": value["id"]}
        raise TypeError(f"unsupported option value for {name!r}: {value!r}")

    async def message_context_menu(
        self,
        name: str,
        target_message: Json,
        *,
        user: Json | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user picks Apps > ``name`` on ``target_message`` (type 2, data.type 3)."""
        stored = self._messages.get(int(target_message["id"]), target_message)
        channel_id = int(stored["channel_id"])
        guild = self._guild_of(self._channel_or_404(channel_id))
        data = self._command_data(name, 3, guild.id if guild else None)
        data["target_id"] = str(stored["id"])
        data["resolved"] = {"messages": {str(stored["id"]): _nested(stored)}}
        return await self._interaction(
            INTERACTION_APPLICATION_COMMAND, data, user=user, channel_id=channel_id, locale=locale
        )

    async def press_button(
        self,
        message: Json,
        custom_id: str,
        *,
        user: Json | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user clicks a button (or picks select ``values``) on ``message``."""
        stored = self._messages.get(int(message["id"]), message)
        data: Json = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return await self._interaction(
            INTERACTION_COMPONENT,
            data,
            user=user,
            channel_id=int(stored["channel_id"]),
            locale=locale,
            message=_nested(stored),
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, Any],
        *,
        user: Json | None = None,
        channel_id: int | None = None,
        message: Json | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user submits the modal ``custom_id`` with ``values`` by component custom_id.

        The submitted layout mirrors the modal the bot opened (callback type 9): action rows
        (type 1, ``components``) or labels (type 18, ``component``). Value kinds: text input
        ``str``; selects/checkbox groups ``list[str]``; checkbox ``bool``; radio ``str``;
        file upload ``list[attachment object]`` (goes to ``resolved.attachments``). Without a
        recorded modal, text inputs in action rows are sent.
        """
        opener = self._modal_opener(custom_id)
        layout: list[Json]
        if opener is not None and opener.modal is not None:
            layout = list(opener.modal.get("components", []))
            channel_id = channel_id or opener.channel_id
            if message is None and opener.type == INTERACTION_COMPONENT:
                message = opener.message
        else:
            layout = [{"type": 1, "components": [{"type": 4, "custom_id": key}]} for key in values]
        channel_id = channel_id or self.channel_id
        resolved: Json = {}
        counter = iter(range(1, 1000))
        remaining = dict(values)
        components = [self._submit_component(c, remaining, resolved, counter) for c in layout]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(remaining)}")
        data: Json = {"custom_id": custom_id, "components": components}
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_MODAL_SUBMIT,
            data,
            user=user,
            channel_id=channel_id,
            locale=locale,
            message=message,
        )

    def _modal_opener(self, custom_id: str) -> FakeInteraction | None:
        for inter in reversed(list(self.interactions.values())):
            modal = inter.modal
            if modal is not None and modal.get("custom_id") == custom_id:
                return inter
        return None

    def _submit_component(
        self, component: Json, remaining: dict[str, Any], resolved: Json, counter: Iterator[int]
    ) -> Json:
        ctype = int(component["type"])
        ident = int(component.get("id") or next(counter))
        if ctype == 1:
            inner = [
                self._submit_component(c, remaining, resolved, counter)
                for c in component.get("components", [])
            ]
            return {"type": 1, "id": ident, "components": inner}
        if ctype == 18:
            inner_one = self._submit_component(
                component["component"], remaining, resolved, counter
            )
            return {"type": 18, "id": ident, "component": inner_one}
        out: Json = {"type": ctype, "id": ident}
        cid = component.get("custom_id")
        if cid is None:
            return out
        out["custom_id"] = cid
        value = remaining.pop(cid, None)
        if ctype == 4:
            out["value"] = value if value is not None else component.get("value") or ""
        elif ctype == 19:
            files = list(value or [])
            for att in files:
                resolved.setdefault("attachments", {})[att["id"]] = att
            out["values"] = [att["id"] for att in files]
        elif ctype == 23:
            out["value"] = bool(value)
        elif ctype == 21:
            out["value"] = value
        else:  # selects (3, 5-8), checkbox group (22)
            out["values"] = list(value or [])
        return out

    async def _interaction(
        self,
        type_: int,
        data: Json,
        *,
        user: Json | None,
        channel_id: int,
        locale: str,
        message: Json | None = None,
    ) -> FakeInteraction:
        self._require_connection()
        user = self._user_ref(user)
        channel = self._channel_or_404(channel_id)
        guild = self._guild_of(channel)
        interaction_id = self.snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        channel_obj = copy.deepcopy(channel)
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "channel_id": str(channel_id),
            "channel": channel_obj,
        }
        if guild is not None:
            perms = guild.permissions_of(int(user["id"]))
            member = copy.deepcopy(self._member_for(guild, user))
            member["permissions"] = str(perms)
            channel_obj["permissions"] = str(perms)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member,
                app_permissions=str(guild.permissions_of(self.application_id)),
                attachment_size_limit=guild.upload_limit,
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=user,
                app_permissions=str(EVERYONE_PERMISSIONS),
                attachment_size_limit=upload_limit_for_tier(0),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if message is not None:
            payload["message"] = message
        record = FakeInteraction(
            id=interaction_id,
            token=token,
            type=type_,
            payload=payload,
            channel_id=channel_id,
            guild_id=guild.id if guild else None,
            created_monotonic=time.monotonic(),
        )
        self.interactions[token] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    # ------------------------------------------------------------------ HTTP plumbing

    def _json(self, payload: Any, status: int = 200, bucket: str = "") -> web.Response:
        headers = {"Content-Type": "application/json"}
        if bucket:
            headers.update(_ratelimit_headers(bucket))
        return web.Response(status=status, body=json.dumps(payload).encode(), headers=headers)

    def _no_content(self, bucket: str = "") -> web.Response:
        return web.Response(status=204, headers=_ratelimit_headers(bucket) if bucket else None)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            response: web.StreamResponse = await handler(request)
            return response
        call = await _record(request)
        self.calls.append(call)
        request[_CALL_KEY] = call
        failure = self._take_failure(call)
        if failure is not None:
            resp: web.StreamResponse = web.Response(
                status=failure.status,
                body=json.dumps(failure.body).encode(),
                headers={"Content-Type": "application/json", **failure.headers},
            )
        else:
            try:
                resp = await handler(request)
            except ApiError as exc:
                resp = self._json(exc.body(), exc.status)
            except web.HTTPException as exc:
                resp = self._json(
                    {"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status
                )
        call.status = resp.status
        await self._notify()
        return resp

    def _take_failure(self, call: Call) -> _ScriptedFailure | None:
        for failure in self._failures:
            if failure.method == call.method and failure.path.search(call.path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _call(request: web.Request) -> Call:
        call: Call = request[_CALL_KEY]
        return call

    @staticmethod
    def _bucket(request: web.Request) -> str:
        route = request.match_info.route.resource
        canonical = route.canonical if route is not None else request.path
        return hashlib.sha1(f"{request.method} {canonical}".encode()).hexdigest()[:16]

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

    async def _echo(self, event: str, msg: Json) -> None:
        if not self.echo_own_messages or int(msg.get("flags", 0)) & FLAG_EPHEMERAL:
            return
        if event == "MESSAGE_DELETE":
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in msg:
                data["guild_id"] = msg["guild_id"]
            await self.dispatch(event, data)
        else:
            await self.dispatch(event, msg)

    # ------------------------------------------------------------------ REST handlers

    async def _get_me(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        return self._json(self.bot_user, bucket=self._bucket(request))

    def _require_auth(self, request: web.Request) -> None:
        if not request.headers.get("Authorization", "").startswith("Bot "):
            raise ApiError(401, 0, "401: Unauthorized")

    async def _get_application(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        app = {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "owner": self.owner_user,
            "team": None,
            "flags": self.application_flags,
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "bot": self.bot_user,
        }
        return self._json(app, bucket=self._bucket(request))

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return self._json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return self._json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86400000,
                    "max_concurrency": 1,
                },
            }
        )

    def _commands_for(self, request: web.Request) -> tuple[list[Json], int | None]:
        if int(request.match_info["app"]) != self.application_id:
            raise ApiError(403, 50001, "Missing Access")
        guild = request.match_info.get("guild")
        if guild is None:
            return self.global_commands, None
        if int(guild) not in self._guilds:
            raise ApiError(403, 50001, "Missing Access")
        return self.guild_commands.setdefault(int(guild), []), int(guild)

    async def _get_commands(self, request: web.Request) -> web.Response:
        commands, _ = self._commands_for(request)
        return self._json(commands, bucket=self._bucket(request))

    async def _put_commands(self, request: web.Request) -> web.Response:
        existing, guild_id = self._commands_for(request)
        body = self._call(request).json
        if not isinstance(body, list):
            raise _form_error("_root", "LIST_TYPE_CONVERT", "Must be an array.")
        out: list[Json] = []
        for cmd in body:
            type_ = int(cmd.get("type", 1))
            old = next(
                (c for c in existing if c["name"] == cmd["name"] and int(c["type"]) == type_), None
            )
            record = {
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                **cmd,
                "id": old["id"] if old else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": type_,
            }
            if guild_id is not None:
                record["guild_id"] = str(guild_id)
            out.append(record)
        existing[:] = out
        return self._json(out, bucket=self._bucket(request))

    async def _get_channel(self, request: web.Request) -> web.Response:
        return self._json(self._channel_or_404(request.match_info["cid"]))

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel_or_404(request.match_info["cid"])["id"])
        limit = int(request.query.get("limit", "50"))
        before = int(request.query.get("before", str(1 << 63)))
        after = int(request.query.get("after", "0"))
        found = [
            m
            for mid in reversed(self._message_order)
            if (m := self._messages.get(mid)) is not None
            and int(m["channel_id"]) == channel_id
            and after < mid < before
            and not int(m.get("flags", 0)) & FLAG_EPHEMERAL
        ]
        return self._json(found[:limit], bucket=self._bucket(request))

    async def _get_message(self, request: web.Request) -> web.Response:
        msg = self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        return self._json(msg, bucket=self._bucket(request))

    async def _post_message(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        call = self._call(request)
        channel = self._channel_or_404(request.match_info["cid"])
        payload: Json = call.json if isinstance(call.json, dict) else {}
        guild = self._guild_of(channel)
        msg = self._new_bot_message(channel, payload, call.uploads, guild)
        if payload.get("message_reference"):
            self._apply_reference(msg, payload, channel, guild)
        self._store_message(msg)
        await self._echo("MESSAGE_CREATE", msg)
        return self._json(msg, bucket=self._bucket(request))

    def _new_bot_message(
        self,
        channel: Json,
        payload: Json,
        uploads: list[Upload],
        guild: FakeGuild | None,
        *,
        message_type: int = 0,
    ) -> Json:
        attachments = self._attachments_from(payload, uploads, int(channel["id"]), [], guild)
        content = str(payload.get("content") or "")
        _check_content(content)
        has_body = (
            content
            or attachments
            or payload.get("embeds")
            or payload.get("components")
            or payload.get("sticker_ids")
            or payload.get("poll")
        )
        if not has_body:
            raise ApiError(400, 50006, "Cannot send an empty message")
        msg: Json = {
            "id": str(self.snowflake()),
            "channel_id": channel["id"],
            "author": dict(self.bot_user),
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": list(payload.get("embeds") or []),
            "components": _with_component_ids(payload.get("components") or []),
            "pinned": False,
            "type": message_type,
            "flags": int(payload.get("flags") or 0),
        }
        if "nonce" in payload:
            msg["nonce"] = payload["nonce"]
        if guild is not None:
            msg["guild_id"] = str(guild.id)
        return msg

    def _attachments_from(
        self,
        payload: Json,
        uploads: list[Upload],
        channel_id: int,
        current: list[Json],
        guild: FakeGuild | None,
    ) -> list[Json]:
        limit = guild.upload_limit if guild else upload_limit_for_tier(0)
        if sum(len(u.data) for u in uploads) > limit:
            raise ApiError(413, 40005, "Request entity too large")
        by_part = {u.part: u for u in uploads}
        current_by_id = {str(a["id"]): a for a in current}
        out: list[Json] = []
        listed = payload.get("attachments")
        if listed is None:
            listed = [{"id": i} for i in range(len(uploads))]
            keep = list(current)
        else:
            keep = []
        out.extend(keep)
        for item in listed:
            ident = str(item.get("id"))
            if ident in current_by_id:
                out.append(current_by_id[ident])
                continue
            upload = by_part.get(f"files[{ident}]")
            if upload is None:
                raise _form_error(
                    "attachments", "ATTACHMENT_NOT_FOUND", f"Attachment {ident} not found"
                )
            filename = str(item.get("filename") or upload.filename)
            out.append(
                self._store_attachment(
                    upload.data,
                    filename,
                    upload.content_type,
                    channel_id,
                    item.get("description"),
                )
            )
        return out

    def _apply_reference(
        self, msg: Json, payload: Json, channel: Json, guild: FakeGuild | None
    ) -> None:
        ref = dict(payload["message_reference"])
        ref_type = int(ref.get("type", 0))
        referenced = self._messages.get(int(ref["message_id"]))
        if referenced is None:
            if ref.get("fail_if_not_exists", True):
                raise _form_error(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return
        ref.setdefault("channel_id", referenced["channel_id"])
        ref["message_id"] = str(ref["message_id"])
        ref["channel_id"] = str(ref["channel_id"])
        if guild is not None:
            ref["guild_id"] = str(guild.id)
        ref.pop("fail_if_not_exists", None)
        ref["type"] = ref_type
        msg["message_reference"] = ref
        msg["referenced_message"] = _nested(referenced)
        if ref_type == 0:
            msg["type"] = 19
            allowed = payload.get("allowed_mentions") or {}
            if (
                allowed.get("replied_user", True)
                and referenced["author"]["id"] != msg["author"]["id"]
            ):
                msg["mentions"].append(dict(referenced["author"]))

    async def _patch_message(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        call = self._call(request)
        msg = self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        if msg["author"]["id"] != self.bot_user["id"]:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._edit_message(msg, call)
        await self._echo("MESSAGE_UPDATE", msg)
        return self._json(msg, bucket=self._bucket(request))

    def _edit_message(self, msg: Json, call: Call) -> None:
        payload: Json = call.json if isinstance(call.json, dict) else {}
        channel = self._channels.get(int(msg["channel_id"]))
        guild = self._guild_of(channel) if channel else None
        if "content" in payload:
            content = str(payload["content"] or "")
            _check_content(content)
            msg["content"] = content
        if "embeds" in payload:
            msg["embeds"] = list(payload["embeds"] or [])
        if "components" in payload:
            msg["components"] = _with_component_ids(payload["components"] or [])
        if "attachments" in payload or call.uploads:
            msg["attachments"] = self._attachments_from(
                payload, call.uploads, int(msg["channel_id"]), msg["attachments"], guild
            )
        if "flags" in payload and payload["flags"] is not None:
            keep = int(msg.get("flags", 0)) & FLAG_EPHEMERAL
            msg["flags"] = int(payload["flags"]) | keep
        msg["flags"] = int(msg.get("flags", 0)) & ~FLAG_LOADING
        msg["edited_timestamp"] = now_iso()

    async def _delete_message(self, request: web.Request) -> web.Response:
        msg = self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        del self._messages[int(msg["id"])]
        await self._echo("MESSAGE_DELETE", msg)
        return self._no_content(self._bucket(request))

    async def _reaction(self, request: web.Request) -> web.Response:
        self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        return self._no_content(self._bucket(request))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel_or_404(request.match_info["cid"])
        return self._no_content(self._bucket(request))

    def _new_thread(self, thread_id: int, parent: Json, name: str, type_: int, body: Json) -> Json:
        if parent["type"] not in (0, 5):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if not name:
            raise _form_error("name", "BASE_TYPE_REQUIRED", "This field is required")
        now = now_iso()
        thread: Json = {
            "id": str(thread_id),
            "type": type_,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": self.bot_user["id"],
            "name": name[:100],
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration") or 4320),
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
                "invitable": bool(body.get("invitable", True)),
            },
            "member": {
                "id": str(thread_id),
                "user_id": self.bot_user["id"],
                "join_timestamp": now,
                "flags": 1,
            },
        }
        guild = self._guilds[int(parent["guild_id"])]
        guild.threads.append(thread)
        self._channels[thread_id] = thread
        return thread

    async def _thread_from_message(self, request: web.Request) -> web.Response:
        parent = self._channel_or_404(request.match_info["cid"])
        msg = self._message_or_404(parent["id"], request.match_info["mid"])
        if "thread" in msg:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        body = self._call(request).json or {}
        thread = self._new_thread(int(msg["id"]), parent, str(body.get("name") or ""), 11, body)
        msg["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return self._json(thread, status=201, bucket=self._bucket(request))

    async def _thread_without_message(self, request: web.Request) -> web.Response:
        parent = self._channel_or_404(request.match_info["cid"])
        body = self._call(request).json or {}
        type_ = int(body.get("type") or 12)
        thread = self._new_thread(
            self.snowflake(), parent, str(body.get("name") or ""), type_, body
        )
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return self._json(thread, status=201, bucket=self._bucket(request))

    # --- interactions

    def _interaction_or_404(self, token: str, *, code: int, message: str) -> FakeInteraction:
        record = self.interactions.get(token)
        if record is None or record.expired:
            raise ApiError(404, code, message)
        return record

    def _interaction_message_type(self, record: FakeInteraction) -> int:
        if record.type == INTERACTION_APPLICATION_COMMAND:
            return 23 if int(record.payload["data"].get("type", 1)) != 1 else 20
        return 0

    def _interaction_metadata(self, record: FakeInteraction) -> Json:
        user = record.payload.get("user") or record.payload["member"]["user"]
        meta: Json = {
            "id": str(record.id),
            "type": record.type,
            "user": user,
            "authorizing_integration_owners": record.payload["authorizing_integration_owners"],
        }
        if record.type == INTERACTION_APPLICATION_COMMAND:
            meta["name"] = record.payload["data"]["name"]
            meta["command_type"] = int(record.payload["data"].get("type", 1))
        if record.type == INTERACTION_COMPONENT and record.message is not None:
            meta["interacted_message_id"] = record.message["id"]
        return meta

    def _interaction_message(
        self, record: FakeInteraction, payload: Json, uploads: list[Upload]
    ) -> Json:
        channel = self._channel_or_404(record.channel_id)
        guild = self._guild_of(channel)
        msg = self._new_bot_message(
            channel,
            payload,
            uploads,
            guild,
            message_type=self._interaction_message_type(record),
        )
        msg["webhook_id"] = str(self.application_id)
        msg["application_id"] = str(self.application_id)
        msg["interaction_metadata"] = self._interaction_metadata(record)
        return msg

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        call = self._call(request)
        record = self.interactions.get(request.match_info["token"])
        if (
            record is None
            or record.expired
            or int(request.match_info["iid"]) != record.id
            or (
                self.interaction_deadline is not None
                and time.monotonic() - record.created_monotonic > self.interaction_deadline
            )
        ):
            raise ApiError(404, 10062, "Unknown interaction")
        if record.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body: Json = call.json if isinstance(call.json, dict) else {}
        type_ = int(body.get("type", 0))
        data: Json = body.get("data") or {}
        resource: Json | None = None
        if (record.type == INTERACTION_AUTOCOMPLETE) != (type_ == CALLBACK_AUTOCOMPLETE_RESULT):
            # Autocomplete takes only choices (type 8), and choices fit nothing else.
            raise _form_error(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Response type {type_} is not valid for interaction type {record.type}",
            )
        if type_ == CALLBACK_CHANNEL_MESSAGE:
            msg = self._interaction_message(record, data, call.uploads)
            record.original = msg
            self._store_message(msg)
            await self._echo("MESSAGE_CREATE", msg)
            resource = {"type": type_, "message": msg}
        elif type_ == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            channel = self._channel_or_404(record.channel_id)
            msg = self._new_bot_message(
                channel,
                {"content": "\u200b"},
                [],
                self._guild_of(channel),
                message_type=self._interaction_message_type(record),
            )
            msg.update(
                content="",
                flags=FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL),
                webhook_id=str(self.application_id),
                application_id=str(self.application_id),
                interaction_metadata=self._interaction_metadata(record),
            )
            record.original = msg
            self._store_message(msg)
            await self._echo("MESSAGE_CREATE", msg)
            resource = {"type": type_, "message": msg}
        elif type_ in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            if record.type not in (INTERACTION_COMPONENT, INTERACTION_MODAL_SUBMIT) or (
                record.message is None
            ):
                raise ApiError(400, 40004, "Interaction callback type not valid here")
            target = self._messages.get(int(record.message["id"]))
            if target is None:
                raise ApiError(404, 10008, "Unknown Message")
            record.original = target
            if type_ == CALLBACK_UPDATE_MESSAGE:
                self._edit_message(target, _sub_call(call, data))
                await self._echo("MESSAGE_UPDATE", target)
                resource = {"type": type_, "message": target}
        elif type_ == CALLBACK_MODAL:
            if record.type == INTERACTION_MODAL_SUBMIT:
                raise ApiError(400, 40004, "Interaction callback type not valid here")
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise _form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
        elif type_ not in (CALLBACK_PONG, CALLBACK_AUTOCOMPLETE_RESULT, 10, 12):
            raise _form_error("type", "BASE_TYPE_CHOICES", f"Value must be one of ... got {type_}")
        record.callbacks.append({"type": type_, "data": data, "files": call.files})

        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return self._no_content()
        interaction: Json = {"id": str(record.id), "type": record.type}
        if resource is not None and "message" in resource:
            original = resource["message"]
            interaction["response_message_id"] = original["id"]
            interaction["response_message_loading"] = bool(int(original["flags"]) & FLAG_LOADING)
            interaction["response_message_ephemeral"] = bool(
                int(original["flags"]) & FLAG_EPHEMERAL
            )
        answer: Json = {"interaction": interaction}
        if resource is not None:
            answer["resource"] = resource
        return self._json(answer)

    def _webhook_record(self, request: web.Request) -> FakeInteraction:
        if int(request.match_info["app"]) != self.application_id:
            raise ApiError(404, 10015, "Unknown Webhook")
        return self._interaction_or_404(
            request.match_info["token"], code=10015, message="Unknown Webhook"
        )

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        call = self._call(request)
        record = self._webhook_record(request)
        if not record.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        payload: Json = call.json if isinstance(call.json, dict) else {}
        original = record.original
        if (
            self.followup_fills_deferred
            and original is not None
            and int(original.get("flags", 0)) & FLAG_LOADING
        ):
            self._edit_message(original, call)
            if payload.get("flags") is not None:
                original["flags"] = (
                    int(payload["flags"]) | int(original["flags"])
                ) & ~FLAG_LOADING
            msg = original
            await self._echo("MESSAGE_UPDATE", msg)
        else:
            msg = self._interaction_message(record, payload, call.uploads)
            if "thread_id" in request.query:
                msg["channel_id"] = str(self._channel_or_404(request.query["thread_id"])["id"])
            self._store_message(msg)
            await self._echo("MESSAGE_CREATE", msg)
        record.followups.append(msg)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return self._json(msg, bucket=self._bucket(request))
        return self._no_content(self._bucket(request))

    def _webhook_message(self, request: web.Request, record: FakeInteraction) -> Json:
        mid = request.match_info["mid"]
        if mid == "@original":
            if record.original is None or int(record.original["id"]) not in self._messages:
                raise ApiError(404, 10008, "Unknown Message")
            return record.original
        msg = self._messages.get(int(mid))
        if msg is None or msg.get("webhook_id") != str(self.application_id):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def _webhook_get(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        return self._json(self._webhook_message(request, record), bucket=self._bucket(request))

    async def _webhook_patch(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        msg = self._webhook_message(request, record)
        self._edit_message(msg, self._call(request))
        await self._echo("MESSAGE_UPDATE", msg)
        return self._json(msg, bucket=self._bucket(request))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        msg = self._webhook_message(request, record)
        del self._messages[int(msg["id"])]
        await self._echo("MESSAGE_DELETE", msg)
        return self._no_content(self._bucket(request))

    # --- CDN

    async def _cdn(self, request: web.Request) -> web.Response:
        entry = self._attachments.get(int(request.match_info["aid"]))
        if entry is None or entry[1] != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        self.cdn_downloads.append(str(request.url))
        data, _, content_type = entry
        return web.Response(
            body=data, headers={"Content-Type": content_type or "application/octet-stream"}
        )

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _GatewayConnection(ws, dict(request.query))
        self.gateway_queries.append(conn.query)
        self._connections.append(conn)
        try:
            await conn.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(conn, json.loads(frame.data))
                elif frame.type is WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            conn.closed = True
            self._connections.remove(conn)
            await self._notify()
        return ws

    async def _on_gateway_frame(self, conn: _GatewayConnection, frame: Json) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2 and isinstance(data, dict):
            await self._identify(conn, data)
        elif op == 6 and isinstance(data, dict):
            state = self._sessions.get(str(data.get("session_id")))
            if state is None:
                await conn.send({"op": 9, "d": False, "s": None, "t": None})
                return
            conn.state = state
            await conn.dispatch("RESUMED", {})
        elif op == 8 and isinstance(data, dict) and conn.state is not None:
            guild = self._guilds.get(int(data["guild_id"]))
            members = list(guild.members.values()) if guild else []
            chunk: Json = {
                "guild_id": str(data["guild_id"]),
                "members": copy.deepcopy(members),
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            await conn.dispatch("GUILD_MEMBERS_CHUNK", chunk)
        await self._notify()

    async def _identify(self, conn: _GatewayConnection, data: Json) -> None:
        intents = int(data.get("intents", 0))
        self.identify_payloads.append(data)
        self.identified_intents = intents
        close_code = self.close_on_identify
        if close_code is None and intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            close_code = 4014
        if close_code is not None:
            reasons = {4004: b"Authentication failed.", 4014: b"Disallowed intent(s)."}
            await conn.ws.close(code=close_code, message=reasons.get(close_code, b"closed"))
            return
        state = _SessionState(session_id=secrets.token_hex(16), intents=intents)
        self._sessions[state.session_id] = state
        conn.state = state
        ready: Json = {
            "v": 10,
            "user": self.bot_user,
            "user_settings": {},
            "guilds": [{"id": str(g), "unavailable": True} for g in self._guilds],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "session_id": state.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "auth": {},
            "_trace": ['["gateway-prd-fake",{"micros":0}]'],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        if self.unreadable_ready_count > 0:
            self.unreadable_ready_count -= 1
            del ready["guilds"]
        await conn.dispatch("READY", ready)
        for guild in self._guilds.values():
            await conn.dispatch("GUILD_CREATE", guild.create_payload())


# ---------------------------------------------------------------------- helpers


def _default_error(status: int, path_regex: str) -> tuple[int, str]:
    if status == 403:
        return 50013, "Missing Permissions"
    if status == 404:
        if "interactions" in path_regex:
            return 10062, "Unknown interaction"
        if "webhooks" in path_regex:
            return 10015, "Unknown Webhook"
        return 10008, "Unknown Message"
    if status == 413:
        return 40005, "Request entity too large"
    if status == 400:
        return 50035, "Invalid Form Body"
    return 0, f"{status}: error"


def _ratelimit_headers(bucket: str) -> dict[str, str]:
    return {
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Scope": "user",
    }


def _check_content(content: str) -> None:
    if len(content) > 2000:
        raise _form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")


def _nested(message: Json) -> Json:
    """A copy fit for ``referenced_message``/``resolved``: one level deep, like Discord."""
    out = copy.deepcopy(message)
    out.pop("referenced_message", None)
    return out


def _with_component_ids(components: list[Json]) -> list[Json]:
    """Echo components the way Discord does: every component gets a numeric ``id``."""
    counter = iter(range(1, 10_000))

    def walk(component: Json) -> Json:
        out = dict(component)
        out.setdefault("id", next(counter))
        if isinstance(out.get("components"), list):
            out["components"] = [walk(c) for c in out["components"]]
        if isinstance(out.get("component"), dict):
            out["component"] = walk(out["component"])
        return out

    return [walk(c) for c in copy.deepcopy(components)]


def _sub_call(call: Call, payload: Json) -> Call:
    return Call(call.method, call.path, call.query, payload, call.uploads, call.headers)


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image  # noqa: PLC0415 - Pillow is optional for non-image tests

        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:
        return None
    return int(width), int(height)


async def _record(request: web.Request) -> Call:
    path = request.path[len(API_PREFIX) :]
    uploads: list[Upload] = []
    body: Any = None
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            raw = bytes(await part.read(decode=False))
            if part.name == "payload_json":
                body = json.loads(raw.decode())
            elif part.filename is not None:
                uploads.append(
                    Upload(
                        part=part.name or "",
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        data=raw,
                    )
                )
    else:
        raw_body = await request.read()
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode(errors="replace")
    return Call(
        method=request.method,
        path=path,
        query=dict(request.query),
        json=body,
        uploads=uploads,
        headers=dict(request.headers),
    )

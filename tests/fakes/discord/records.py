"""What tests hold and read: REST calls, uploads, interactions, guilds."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.discord.protocol import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    CALLBACK_MODAL,
    Json,
    now_iso,
    upload_limit_for_tier,
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


CALL_KEY = web.RequestKey("bananabot_discord_fake_call", Call)


def call_of(request: web.Request) -> Call:
    """The call the middleware recorded for ``request``."""
    call: Call = request[CALL_KEY]
    return call


def sub_call(call: Call, payload: Json) -> Call:
    """``call`` with another JSON body (an interaction callback's message data)."""
    return Call(call.method, call.path, call.query, payload, call.uploads, call.headers)


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
        """The callback types the bot answered with, in order."""
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
        """Whether the bot answered the interaction at all."""
        return bool(self.callbacks)

    @property
    def message(self) -> Json | None:
        """The message a component interaction came from."""
        message: Json | None = self.payload.get("message")
        return message


@dataclass
class FakeGuild:
    """A guild: its channels, threads, roles and members."""

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
        """The guild's first text channel."""
        return next(int(c["id"]) for c in self.channels if c["type"] == 0)

    @property
    def upload_limit(self) -> int:
        """Discord's upload limit for the guild's boost tier."""
        return upload_limit_for_tier(self.premium_tier)

    def role(self, role_id: int) -> Json | None:
        """The role with this id, if any."""
        return next((r for r in self.roles if int(r["id"]) == role_id), None)

    def permissions_of(self, user_id: int) -> int:
        """A member's guild permissions (owner and administrators get all)."""
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

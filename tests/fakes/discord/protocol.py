"""Discord wire facts the fake follows: ids, intents, flags, permissions, errors, limits."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
import warnings
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` (deprecated since 3.11); pytest runs -W error.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

Json = dict[str, Any]

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
    """Now as Discord writes timestamps (ISO 8601, microseconds, UTC)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def upload_limit_for_tier(premium_tier: int) -> int:
    """Discord's per-message upload limit for a guild boost tier (bytes)."""
    return {2: 50 * MIB, 3: 100 * MIB}.get(premium_tier, 10 * MIB)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events on; DMs (no guild) go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


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

    def on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next snowflake that, as a guild id, lands on ``shard_id`` of ``shard_count``."""
        candidate = self()
        while shard_of(candidate, shard_count) != shard_id:
            # The shard comes from the timestamp bits: step the time by a millisecond.
            candidate = ((candidate >> 22) + 1) << 22
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
        """The JSON error body."""
        payload: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            payload["errors"] = self.errors
        return payload


def form_error(field_name: str, code: str, message: str) -> ApiError:
    """A 400 50035 Invalid Form Body naming the field at fault."""
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


def default_error(status: int, path_regex: str) -> tuple[int, str]:
    """Discord's (code, message) for a scripted status on a path."""
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


def ratelimit_headers(bucket: str) -> dict[str, str]:
    """The rate-limit headers of a not-yet-exhausted bucket."""
    return {
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Scope": "user",
    }


def check_content(content: str) -> None:
    """Refuse content over Discord's 2000-character limit."""
    if len(content) > 2000:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")


def nested(message: Json) -> Json:
    """A copy fit for ``referenced_message``/``resolved``: one level deep, like Discord."""
    out = copy.deepcopy(message)
    out.pop("referenced_message", None)
    return out


def with_component_ids(components: list[Json]) -> list[Json]:
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


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height when the bytes are an image Pillow reads, else None."""
    try:
        from PIL import Image  # noqa: PLC0415 - Pillow is optional for non-image tests

        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:
        return None
    return int(width), int(height)


def json_response(payload: Any, status: int = 200, bucket: str = "") -> web.Response:
    """A JSON answer, with rate-limit headers of ``bucket`` when given."""
    headers = {"Content-Type": "application/json"}
    if bucket:
        headers.update(ratelimit_headers(bucket))
    return web.Response(status=status, body=json.dumps(payload).encode(), headers=headers)


def no_content(bucket: str = "") -> web.Response:
    """A 204, with rate-limit headers of ``bucket`` when given."""
    return web.Response(status=204, headers=ratelimit_headers(bucket) if bucket else None)


def bucket_of(request: web.Request) -> str:
    """A stable rate-limit bucket per route, as Discord hashes them."""
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else request.path
    return hashlib.sha1(f"{request.method} {canonical}".encode()).hexdigest()[:16]

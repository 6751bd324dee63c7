"""REST routes of the bot's own calls: identity, commands, channels, messages, threads, CDN."""

from __future__ import annotations

import secrets

from aiohttp import web

from tests.fakes.discord.bot_messages import BotMessages
from tests.fakes.discord.protocol import (
    FLAG_EPHEMERAL,
    ApiError,
    Json,
    bucket_of,
    form_error,
    json_response,
    no_content,
    now_iso,
)
from tests.fakes.discord.records import call_of


class RestApi(BotMessages):
    """Handlers of ``/api/v10/...`` routes other than interactions and webhooks."""

    def _require_auth(self, request: web.Request) -> None:
        if not request.headers.get("Authorization", "").startswith("Bot "):
            raise ApiError(401, 0, "401: Unauthorized")

    async def _get_me(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        return json_response(self.bot_user, bucket=bucket_of(request))

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
        return json_response(app, bucket=bucket_of(request))

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
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
        return json_response(commands, bucket=bucket_of(request))

    async def _put_commands(self, request: web.Request) -> web.Response:
        existing, guild_id = self._commands_for(request)
        body = call_of(request).json
        if not isinstance(body, list):
            raise form_error("_root", "LIST_TYPE_CONVERT", "Must be an array.")
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
        return json_response(out, bucket=bucket_of(request))

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel_or_404(request.match_info["cid"]))

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
        return json_response(found[:limit], bucket=bucket_of(request))

    async def _get_message(self, request: web.Request) -> web.Response:
        msg = self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        return json_response(msg, bucket=bucket_of(request))

    async def _post_message(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        call = call_of(request)
        channel = self._channel_or_404(request.match_info["cid"])
        payload: Json = call.json if isinstance(call.json, dict) else {}
        guild = self._guild_of(channel)
        msg = self._new_bot_message(channel, payload, call.uploads, guild)
        if payload.get("message_reference"):
            self._apply_reference(msg, payload, channel, guild)
        self._store_message(msg)
        await self._echo("MESSAGE_CREATE", msg)
        return json_response(msg, bucket=bucket_of(request))

    async def _patch_message(self, request: web.Request) -> web.Response:
        self._require_auth(request)
        call = call_of(request)
        msg = self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        if msg["author"]["id"] != self.bot_user["id"]:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._edit_message(msg, call)
        await self._echo("MESSAGE_UPDATE", msg)
        return json_response(msg, bucket=bucket_of(request))

    async def _delete_message(self, request: web.Request) -> web.Response:
        msg = self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        del self._messages[int(msg["id"])]
        await self._echo("MESSAGE_DELETE", msg)
        return no_content(bucket_of(request))

    async def _reaction(self, request: web.Request) -> web.Response:
        self._message_or_404(request.match_info["cid"], request.match_info["mid"])
        return no_content(bucket_of(request))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel_or_404(request.match_info["cid"])
        return no_content(bucket_of(request))

    def _new_thread(self, thread_id: int, parent: Json, name: str, type_: int, body: Json) -> Json:
        if parent["type"] not in (0, 5):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if not name:
            raise form_error("name", "BASE_TYPE_REQUIRED", "This field is required")
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
        body = call_of(request).json or {}
        thread = self._new_thread(int(msg["id"]), parent, str(body.get("name") or ""), 11, body)
        msg["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread, status=201, bucket=bucket_of(request))

    async def _thread_without_message(self, request: web.Request) -> web.Response:
        parent = self._channel_or_404(request.match_info["cid"])
        body = call_of(request).json or {}
        type_ = int(body.get("type") or 12)
        thread = self._new_thread(
            self.snowflake(), parent, str(body.get("name") or ""), type_, body
        )
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread, status=201, bucket=bucket_of(request))

    async def _cdn(self, request: web.Request) -> web.Response:
        entry = self._attachments.get(int(request.match_info["aid"]))
        if entry is None or entry[1] != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        self.cdn_downloads.append(str(request.url))
        data, _, content_type = entry
        return web.Response(
            body=data, headers={"Content-Type": content_type or "application/octet-stream"}
        )

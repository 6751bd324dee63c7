"""The gateway WebSocket: sessions, shards, intents (and what they hide), dispatched events.

Sharding as Discord does it: IDENTIFY may carry ``shard: [id, count]``; that session then gets
only the guilds, and the guild events, of shard (guild_id >> 22) % count, and DMs only on shard
0. A session without ``shard`` gets everything, like shard [0, 1].
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from tests.fakes.discord.protocol import (
    INTENT_DM_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Json,
    shard_of,
)
from tests.fakes.discord.world import DiscordWorld


@dataclass
class SessionState:
    """A gateway session: what RESUME continues."""

    session_id: str
    intents: int
    shard: tuple[int, int] | None = None
    seq: int = 0

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord sends this session the events of ``guild_id`` (None: a DM)."""
        if self.shard is None:
            return True
        shard_id, shard_count = self.shard
        return shard_of(guild_id, shard_count) == shard_id


class GatewayConnection:
    """One WebSocket connection to the fake gateway."""

    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ws = ws
        self.query = query
        self.state: SessionState | None = None
        self.closed = False
        self._lock = asyncio.Lock()

    @property
    def identified(self) -> bool:
        """Whether this connection completed IDENTIFY and is open."""
        return self.state is not None and not self.closed

    async def send(self, payload: Json) -> None:
        """Send one frame (frames never interleave)."""
        async with self._lock:
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: Json) -> None:
        """Send one DISPATCH with the session's next sequence number."""
        assert self.state is not None
        async with self._lock:
            self.state.seq += 1
            frame = {"op": 0, "t": event, "s": self.state.seq, "d": data}
            await self.ws.send_str(json.dumps(frame))


class Gateway(DiscordWorld):
    """The gateway: HELLO, IDENTIFY/READY/RESUME, heartbeats, intents, dispatching events."""

    @property
    def connected(self) -> int:
        """Number of identified gateway connections."""
        return sum(1 for c in self._connections if c.identified)

    def _require_connection(self) -> None:
        """Refuse user actions before a client is ready (they would go nowhere)."""
        if not any(c.identified for c in self._connections):
            raise RuntimeError("no identified gateway connection: is the client ready?")

    async def dispatch(self, event: str, data: Json) -> int:
        """Send a raw DISPATCH to every identified connection of the event's shard; returns
        deliveries."""
        delivered = 0
        guild_id = _guild_of_event(event, data)
        for conn in list(self._connections):
            if not conn.identified or conn.state is None or not conn.state.receives(guild_id):
                continue
            payload = self._filter_for(conn.state.intents, event, data)
            if payload is None:
                continue
            try:
                await conn.dispatch(event, payload)
            except (ConnectionError, RuntimeError):
                conn.closed = True
                continue
            self.dispatched.append((conn.state.shard, event, payload))
            delivered += 1
        self._log.changed()
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
        """Send GUILD_CREATE for a guild added after the client connected."""
        await self.dispatch("GUILD_CREATE", self._guilds[guild_id].create_payload())

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, dict(request.query))
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
            self._log.changed()
        return ws

    async def _on_gateway_frame(self, conn: GatewayConnection, frame: Json) -> None:
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
        self._log.changed()

    async def _identify(self, conn: GatewayConnection, data: Json) -> None:
        intents = int(data.get("intents", 0))
        self.identify_payloads.append(data)
        self.identified_intents = intents
        shard = _shard_of_identify(data.get("shard"))
        close_code = self.close_on_identify
        if close_code is None and intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            close_code = 4014
        if close_code is None and "shard" in data and shard is None:
            close_code = 4010
        if close_code is not None:
            reasons = {
                4004: b"Authentication failed.",
                4010: b"Invalid shard.",
                4011: b"Sharding required.",
                4014: b"Disallowed intent(s).",
            }
            await conn.ws.close(code=close_code, message=reasons.get(close_code, b"closed"))
            return
        if shard is not None:
            self.identified_shards.append(shard)
        state = SessionState(session_id=secrets.token_hex(16), intents=intents, shard=shard)
        self._sessions[state.session_id] = state
        conn.state = state
        guilds = [g for g in self._guilds.values() if state.receives(g.id)]
        ready: Json = {
            "v": 10,
            "user": self.bot_user,
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
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
        for guild in guilds:
            await conn.dispatch("GUILD_CREATE", guild.create_payload())


def _shard_of_identify(value: object) -> tuple[int, int] | None:
    """IDENTIFY's ``shard: [id, count]`` if valid (Discord closes with 4010 otherwise)."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    shard_id, shard_count = value
    if not isinstance(shard_id, int) or not isinstance(shard_count, int):
        return None
    return (shard_id, shard_count) if 0 <= shard_id < shard_count else None


def _guild_of_event(event: str, data: Json) -> int | None:
    """The guild an event belongs to (its shard's); None for DMs and guild-less events."""
    guild_id = data.get("id") if event == "GUILD_CREATE" else data.get("guild_id")
    return int(guild_id) if guild_id is not None else None

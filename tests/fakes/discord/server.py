"""The HTTP side of the fake: routes, the recording middleware, scripted failures, lifecycle."""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import yarl
from aiohttp import BodyPartReader, web

from tests.fakes.discord.interactions import Interactions
from tests.fakes.discord.protocol import (
    API_PREFIX,
    MIB,
    ApiError,
    Json,
    default_error,
    json_response,
)
from tests.fakes.discord.records import CALL_KEY, Call, Upload
from tests.fakes.discord.responses import InteractionResponses
from tests.fakes.discord.rest import RestApi
from tests.fakes.discord.users import UserMessages
from tests.fakes.discord.world import ScriptedFailure
from tests.fakes.loopback import serve

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` (deprecated since 3.11); pytest runs -W error.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord.gateway
    import discord.http


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


async def _record(request: web.Request) -> Call:
    """Read a REST request into a ``Call`` (JSON body, or multipart ``payload_json`` + files)."""
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


class DiscordFake(RestApi, InteractionResponses, Interactions, UserMessages):
    """Discord REST + CDN + gateway on 127.0.0.1 (OS-chosen port)."""

    async def __aenter__(self) -> DiscordFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Serve REST, CDN and gateway on an OS-chosen loopback port."""
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
        """Close gateway connections (1001) and stop the server."""
        for conn in list(self._connections):
            conn.closed = True
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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
            default_code, default_message = default_error(status, path_regex)
            body = {
                "message": message if message is not None else default_message,
                "code": code if code is not None else default_code,
            }
        verb, pattern = method.upper(), re.compile(path_regex)
        self._failures.add(
            lambda call: call.method == verb and bool(pattern.search(call.path)),
            ScriptedFailure(status, body, headers),
            times,
        )

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            response: web.StreamResponse = await handler(request)
            return response
        call = self._log.record(await _record(request))
        request[CALL_KEY] = call
        failure = self._failures.take(call)
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
                resp = json_response(exc.body(), exc.status)
            except web.HTTPException as exc:
                resp = json_response(
                    {"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status
                )
        call.status = resp.status
        self._log.changed()
        return resp

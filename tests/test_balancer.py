"""The round-robin balancer in front of several instances: alternation, failover, 502."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.balancer import RoundRobin
from tests.fakes.loopback import serve


class Backend:
    """A loopback server that echoes what reached it and says who it is."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.url = ""

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
        return web.Response(status=201, body=self.name.encode() + b":" + body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._echo)
        return app


@pytest.fixture
async def backends() -> AsyncIterator[list[Backend]]:
    found = [Backend("a"), Backend("b")]
    runners = []
    for backend in found:
        runner, port = await serve(backend.app())
        runners.append(runner)
        backend.url = f"http://127.0.0.1:{port}"
    yield found
    for runner in runners:
        await runner.cleanup()


def refusing_url() -> str:
    """A loopback URL nobody listens on (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def post(url: str, body: bytes) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"X-Secret": "s3", "Connection": "close"}) as reply,
    ):
        return reply.status, await reply.read()


async def test_requests_alternate_between_backends(backends: list[Backend]) -> None:
    a, b = backends
    async with RoundRobin([a.url, b.url]) as balancer:
        replies = [await post(f"{balancer.url}/hook/x?n={n}", f"u{n}".encode()) for n in range(4)]
        assert balancer.counts == {a.url: 2, b.url: 2}
    assert replies == [(201, b"a:u0"), (201, b"b:u1"), (201, b"a:u2"), (201, b"b:u3")]
    method, path, headers, body = a.seen[1]
    assert (method, path, body) == ("POST", "/hook/x?n=2", b"u2")
    assert headers["X-Secret"] == "s3"  # end-to-end headers pass; hop-by-hop ones do not
    assert headers.get("Connection") != "close"


async def test_a_refusing_backend_is_skipped(backends: list[Backend]) -> None:
    a, _ = backends
    down = refusing_url()
    async with RoundRobin([down, a.url]) as balancer:
        replies = [await post(balancer.url + "/hook", b"u") for _ in range(3)]
        assert balancer.counts == {down: 0, a.url: 3}
        assert balancer.refused[down] == 2  # asked first on every other request
    assert replies == [(201, b"a:u")] * 3


async def test_502_when_every_backend_refuses() -> None:
    async with RoundRobin([refusing_url(), refusing_url()]) as balancer:
        status, _ = await post(balancer.url + "/hook", b"u")
        assert status == 502
        assert sum(balancer.counts.values()) == 0

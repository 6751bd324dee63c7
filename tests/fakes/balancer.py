"""A round-robin HTTP load balancer on loopback, for several bot instances behind one webhook URL.

Each incoming request (method, path, query, headers minus hop-by-hop ones, body) goes to the
next backend in turn; the backend's status, headers and body go back to the caller. A backend
that refuses the connection is skipped for that request, the way a real balancer's health
handling would, and the request tries the next one; only when every backend refuses does the
caller get 502. `counts` records how many requests each backend answered.

    async with RoundRobin(["http://127.0.0.1:8001", "http://127.0.0.1:8002"]) as balancer:
        tg.webhook_url = balancer.url + "/telegram"
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import TracebackType

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tests.fakes.loopback import serve

# RFC 9110 section 7.6.1, plus what the client library computes for the forwarded body.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
MAX_BODY = 64 * 1024 * 1024


def _forwardable(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """`headers` without hop-by-hop ones (nor those the Connection header names)."""
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    return CIMultiDict(
        (key, value)
        for key, value in headers.items()
        if key.lower() not in HOP_BY_HOP and key.lower() not in named
    )


class RoundRobin:
    """Forward each request to the next of `backends` (base URLs), skipping refusing ones."""

    def __init__(self, backends: Sequence[str], host: str = "127.0.0.1") -> None:
        if not backends:
            raise ValueError("a balancer needs at least one backend")
        self.backends = [b.rstrip("/") for b in backends]
        self.counts = dict.fromkeys(self.backends, 0)  # requests each backend answered
        self.refused = dict.fromkeys(self.backends, 0)  # connections each backend refused
        self._host = host
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """The balancer's own base URL (valid once started)."""
        if self._runner is None:
            raise RuntimeError("the balancer is not running")
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen on a free port of the host."""
        # No total timeout: a backend may take as long as it likes (like a webhook handler).
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            auto_decompress=False,  # bodies pass through byte for byte
        )
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner, self._port = await serve(app, self._host)

    async def aclose(self) -> None:
        """Stop listening and close the connections to the backends."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()

    async def __aenter__(self) -> RoundRobin:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = _forwardable(request.headers)
        first = next(self._turn)
        for offset in range(len(self.backends)):
            backend = self.backends[(first + offset) % len(self.backends)]
            try:
                async with self._http.request(
                    request.method,
                    URL(backend + request.rel_url.raw_path_qs, encoded=True),
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                ) as response:
                    answer = await response.read()
                    status, reply_headers = response.status, _forwardable(response.headers)
            except aiohttp.ClientConnectorError:
                self.refused[backend] += 1
                continue  # down or not yet listening: the next one takes the request
            self.counts[backend] += 1
            return web.Response(status=status, body=answer, headers=reply_headers)
        return web.Response(status=502, text="no backend accepted the connection")

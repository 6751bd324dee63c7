"""The server: ``POST /{version}/models/{model}:generateContent`` and
``:streamGenerateContent``, scripts, waits."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Literal, Self, TypeVar

from aiohttp import web

from tests.fakes.gemini.grounding import DEFAULT_SOURCES
from tests.fakes.gemini.records import RecordedRequest, either_case, parse_contents
from tests.fakes.gemini.replies import Reply
from tests.fakes.gemini.streaming import AnswerStreaming, ClientWatch, plan, sse_event
from tests.fakes.loopback import serve
from tests.fakes.recording import DEFAULT_TIMEOUT, CallLog

T = TypeVar("T")

SIGNATURE_HELP = (
    " Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures#model-behavior"
    " for more details."
)


class _SignatureError(Exception):
    def __init__(self, content_pos: int, part_pos: int) -> None:
        super().__init__(content_pos, part_pos)
        self.content_pos = content_pos
        self.part_pos = part_pos


# Google's base models as `models.list` returned them (2026-12): image models and others.
LISTED_MODELS = (
    "gemini-3.5-flash",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite-image",
    "gemini-3-pro-image",
    "gemini-3-pro-image-preview",
    "gemini-2.5-flash-image",
    "gemini-2.5-flash",
    "text-embedding-004",
)


ACTIONS = ("generateContent", "streamGenerateContent")


class GeminiFake(AnswerStreaming):
    """An aiohttp server speaking the Gemini ``generateContent`` REST protocol (plain and
    ``streamGenerateContent?alt=sse``) on 127.0.0.1."""

    def __init__(
        self,
        *,
        gemini3: bool = False,
        latency: float = 0.0,
        response_case: Literal["camel", "snake"] = "camel",
        default_image_size: tuple[int, int] = (64, 64),
        expected_api_key: str | None = None,
    ) -> None:
        self.gemini3 = gemini3
        self.latency = latency
        self.response_case: Literal["camel", "snake"] = response_case
        self.default_image_size = default_image_size
        # When set, other keys get Google's 400 API_KEY_INVALID (auth-failure tests).
        self.expected_api_key = expected_api_key
        # What `GET /{version}/models` lists (ids without "models/"), in pages of `pageSize`.
        self.models: list[str] = list(LISTED_MODELS)
        # (title, uri) of the web sources a googleSearch-grounded answer cites.
        self.grounding_sources: list[tuple[str, str]] = list(DEFAULT_SOURCES)
        self.issued_signatures: list[bytes] = []
        self._issued: set[bytes] = set()
        self._script: deque[Reply] = deque()
        self._png_cache: dict[tuple[int, int, int, int, int], bytes] = {}
        self._log: CallLog[RecordedRequest] = CallLog(
            lambda r: f"{r.model}:{r.action} -> {r.response_status}"
        )
        self.requests: list[RecordedRequest] = self._log.calls
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Serve on an OS-chosen loopback port."""
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/{version}/models/{model_action}", self._handle)
        app.router.add_get("/{version}/models", self._list_models)
        # Hanging handlers are released by _closing, so the short shutdown timeout suffices.
        self._runner, self._port = await serve(app)

    async def _list_models(self, request: web.Request) -> web.Response:
        size = int(request.query.get("pageSize", "50"))
        start = int(request.query.get("pageToken") or 0)
        page = self.models[start : start + size]
        body: dict[str, object] = {
            "models": [
                {
                    "name": f"models/{model}",
                    "displayName": model.replace("-", " ").title(),
                    "supportedGenerationMethods": ["embedContent"]
                    if "embedding" in model
                    else ["generateContent", "countTokens"],
                }
                for model in page
            ]
        }
        if start + size < len(self.models):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    async def close(self) -> None:
        """Release hanging/sleeping handlers, then stop the server."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        if self._port is None:
            raise RuntimeError("GeminiFake is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``HttpOptions(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies, consumed one per (accepted) request; then back to the default."""
        self._script.extend(replies)

    @property
    def pending_replies(self) -> int:
        """How many scripted replies are left."""
        return len(self._script)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request."""
        return self.requests[-1]

    async def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded, re-checked on every change
    ) -> T:
        """Return ``condition()``'s first truthy value, re-checked whenever a request arrives or
        is answered; ``TimeoutError`` listing recent requests after ``timeout``."""
        return await self._log.wait_for(condition, timeout)

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded, re-checked on every change
    ) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests have arrived and return the first ``n``."""
        await self.wait_for(lambda: len(self.requests) >= n, timeout)
        return self.requests[:n]

    def answer_body(self, reply: Reply, *, model: str) -> bytes:
        """The body this fake answers ``reply`` with to a request for ``model`` without inputs.

        For precomputing: the benchmark's own server sends one such body many times.
        """
        probe = RecordedRequest(
            model=model,
            api_version="v1beta",
            action="generateContent",
            headers={},
            raw={},
            contents=[],
            generation_config=None,
        )
        body = self._render(reply, probe, 0).body
        assert isinstance(body, bytes)
        return body

    def stream_events(
        self, reply: Reply, *, model: str, thoughts: bool = True
    ) -> list[tuple[float, bytes]]:
        """The events this fake streams for ``reply`` (an image, text or thinking answer) to a
        ``streamGenerateContent`` request for ``model`` without inputs, asking for thoughts or
        not: (seconds after arrival, event bytes), in order.

        For precomputing, like ``answer_body``: the benchmark's own server replays them.
        """
        probe = RecordedRequest(
            model=model,
            api_version="v1beta",
            action="streamGenerateContent",
            headers={},
            raw={},
            contents=[],
            generation_config={"thinkingConfig": {"includeThoughts": thoughts}},
        )
        answer = self._answer(reply, probe, 0, show_thoughts=thoughts)
        early, final = plan(answer)
        chunks = [*early, *final]
        return [
            (
                chunk.at,
                sse_event(self._chunk_body(probe, answer, chunk, last=n == len(chunks) - 1)),
            )
            for n, chunk in enumerate(chunks)
        ]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = asyncio.get_running_loop().time()
        model, _, action = request.match_info["model_action"].partition(":")
        api_version = request.match_info["version"]
        raw_body = await request.read()
        try:
            raw = json.loads(raw_body) if raw_body else {}
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            contents = parse_contents(raw.get("contents"))
            bad_json = False
        except (ValueError, binascii.Error):
            raw, contents, bad_json = {}, [], True
        gen_config = either_case(raw, "generationConfig", "generation_config")
        tools = raw.get("tools")
        rec = RecordedRequest(
            model=model,
            api_version=api_version,
            action=action,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            contents=contents,
            generation_config=gen_config if isinstance(gen_config, dict) else None,
            tools=tools if isinstance(tools, list) else None,
            arrived_at=arrived,
        )
        index = len(self.requests)
        self._log.record(rec)

        watch = ClientWatch(request, rec, arrived, self._log)
        response = await self._respond(rec, index, bad_json, request, watch)
        rec.answered_at = asyncio.get_running_loop().time()
        if response is None:  # the client left or the fake dropped it: nobody will read this
            return web.Response(status=499, text="client gone", content_type="text/plain")
        if isinstance(response, web.Response):
            rec.response_status = response.status
            body = response.body
            rec.response_body = body if isinstance(body, bytes) else None
            self._log.changed()
        return response

    async def _respond(
        self,
        rec: RecordedRequest,
        index: int,
        bad_json: bool,
        request: web.Request,
        watch: ClientWatch,
    ) -> web.StreamResponse | None:
        """The answer to send, or None when there is nobody left to send it to."""
        if rejection := self._check_request(rec, bad_json) or self._signature_error(rec):
            return self._render(rejection, rec, index)
        # Plain requests keep their cheap waits (the benchmark runs thousands); streams and
        # scripted thinking also watch for the client leaving.
        stream_watch = watch if rec.streamed else None
        if self._script:
            reply = self._script.popleft()
        else:
            reply = Reply.image()
            await self._sleep(self.latency, stream_watch)
        while reply.kind == "delay":
            await self._sleep(reply.seconds, stream_watch)
            reply = reply.then or Reply.image()
        if stream_watch is not None and stream_watch.gone():
            return None
        if reply.kind == "hang":
            if stream_watch is None:
                await self._closing.wait()
            elif await stream_watch.wait_until(None, self._closing) == "gone":
                return None
            return _closed_response()
        if reply.kind == "drop":
            _drop(request)
            return None
        if rec.streamed and reply.kind not in ("error", "raw"):
            return await self._stream(reply, rec, index, request, watch)
        if reply.kind == "thinking":
            return await self._think_whole(reply, rec, index, request, watch)
        return self._render(reply, rec, index)

    async def _think_whole(
        self,
        reply: Reply,
        rec: RecordedRequest,
        index: int,
        request: web.Request,
        watch: ClientWatch,
    ) -> web.StreamResponse | None:
        """``Reply.thinking`` on a plain request: the whole answer (or its ending) at
        ``final_at``, no chunk timing."""
        ending_at = None if reply.hold else reply.final_at
        due = await watch.wait_until(ending_at, self._closing, reply.release)
        if due == "gone":
            return None
        if due == "closing":
            return _closed_response()
        if reply.interrupt is not None:
            if reply.interrupt.kind == "drop":
                _drop(request)
                return None
            return self._render(reply.interrupt, rec, index)
        return self._render(reply, rec, index)

    def _signature_error(self, rec: RecordedRequest) -> Reply | None:
        """Gemini 3's 400 for a model image without a signature this fake issued."""
        if not self.gemini3:
            return None
        try:
            self._validate_signatures(rec)
        except _SignatureError as e:
            return Reply.error(
                400,
                "Image part is missing a thought_signature in content position "
                f"{e.content_pos}, part position {e.part_pos}.{SIGNATURE_HELP}",
                "INVALID_ARGUMENT",
            )
        return None

    def _check_request(self, rec: RecordedRequest, bad_json: bool) -> Reply | None:
        """Protocol-level rejections the real API makes before looking at the content."""
        if self.expected_api_key is not None and rec.api_key != self.expected_api_key:
            return Reply.error(
                400,
                "API key not valid. Please pass a valid API key.",
                "INVALID_ARGUMENT",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )
        if rec.action not in ACTIONS:
            return Reply.error(404, f"Method {rec.action} is not supported by this fake.")
        if bad_json:
            return Reply.error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        return None

    def _validate_signatures(self, rec: RecordedRequest) -> None:
        for ci, content in enumerate(rec.contents, start=1):
            if content.role != "model":
                continue
            for pi, part in enumerate(content.parts, start=1):
                if part.image is None or part.thought:
                    continue
                if part.thought_signature not in self._issued:
                    raise _SignatureError(ci, pi)

    async def _sleep(self, seconds: float, watch: ClientWatch | None = None) -> None:
        """Sleep server-side, but wake up at once when the fake closes (or, watched, when the
        client leaves)."""
        if seconds <= 0:
            return
        if watch is not None:
            await watch.wait_until(watch.elapsed() + seconds, self._closing)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)


def _closed_response() -> web.Response:
    """What a request still waiting when the fake closes gets."""
    return web.Response(status=503, text="fake closed", content_type="text/plain")


def _drop(request: web.Request) -> None:
    """Close the connection without answering."""
    if request.transport is not None:
        request.transport.close()

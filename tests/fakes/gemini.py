"""Loopback fake of the Gemini REST API (``generateContent``) for tests and benchmarks.

Why a real HTTP server: with aiohttp installed, google-genai's async client sends through
aiohttp, so httpx/respx mocks never see the traffic. Pointing the real SDK at this server via
``HttpOptions(base_url=fake.base_url)`` tests the wire format we actually depend on.

Usage::

    async with GeminiFake(gemini3=True) as fake:
        fake.script(Reply.rate_limited("2s"), Reply.image(png))
        ...  # drive the code under test against fake.base_url
        await fake.wait_for_requests(2)
        assert fake.requests[1].images == [...]

Behaviour notes (deliberate choices, keep tests honest):

- Requests are parsed in camelCase and in the SDK's real snake_case (``inlineData`` /
  ``inline_data``, ``mimeType`` / ``mime_type``, ``thoughtSignature`` / ``thought_signature``),
  with standard or URL-safe base64, padded or not.
- Every request is recorded, including rejected ones, before any reply is produced.
- Gemini-3 mode validates the history first. The 400 for a missing or unknown signature uses
  **1-based** positions (``content position 2, part position 1`` is the first part of the
  second content), which matches the wording seen in real error reports. A rejected request
  does **not** consume a scripted reply: it never reached the "model".
- ``latency`` applies to default replies only; script ``Reply.delay`` for scripted latency.
- Sleeps and hangs end as soon as the fake closes, so ``async with`` exit is prompt.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import os
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web
from PIL import Image

from tests.fakes.loopback import serve

__all__ = [
    "DEFAULT_TEXT",
    "GeminiFake",
    "RecordedContent",
    "RecordedPart",
    "RecordedRequest",
    "Reply",
    "decode_b64",
]

DEFAULT_TEXT = "Here is your edited image."
GEMINI3_THOUGHT_TEXT = "thinking..."
GEMINI3_TEXT = "Here it is"
SIGNATURE_HELP = (
    " Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures#model-behavior"
    " for more details."
)
_JSON_CT = "application/json; charset=UTF-8"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_SERVER_MESSAGES = {
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
# Token counts as documented for the Gemini image models (API-NOTES A5); only plausibility matters.
_TOKENS_PER_INPUT_IMAGE = 560
_TOKENS_PER_OUTPUT_IMAGE = 1290
_TOKENS_PER_THOUGHTS = 180


def decode_b64(value: str | bytes) -> bytes:
    """Decode standard or URL-safe base64, with or without padding (the SDK sends URL-safe)."""
    text = value.decode("ascii") if isinstance(value, bytes) else value
    text = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    return base64.b64decode(text, validate=True)


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """Read a key in either spelling: the API speaks camelCase, the SDK sends some snake_case."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _to_snake(value: Any) -> Any:
    """Rename every dict key of a response body to snake_case (values untouched)."""
    if isinstance(value, dict):
        return {_snake(k): _to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_snake(v) for v in value]
    return value


# --------------------------------------------------------------------------- recording


@dataclass
class RecordedPart:
    """One request part, decoded: what the code under test really sent."""

    text: str | None = None
    image: bytes | None = None
    mime_type: str | None = None
    thought: bool = False
    thought_signature: bytes | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordedContent:
    """One request turn (``role`` is ``user`` or ``model``; missing role is recorded as None)."""

    role: str | None
    parts: list[RecordedPart]


@dataclass
class RecordedRequest:
    """Everything about one ``generateContent`` call, plus what the fake answered."""

    model: str
    api_version: str
    action: str
    headers: dict[str, str]
    raw: dict[str, Any]
    contents: list[RecordedContent]
    generation_config: dict[str, Any] | None
    response_status: int | None = None
    response_body: bytes | None = None
    response_images: list[bytes] = field(default_factory=list)

    @property
    def images(self) -> list[bytes]:
        """All inline images of the request, in order (all turns, all parts)."""
        return [p.image for c in self.contents for p in c.parts if p.image is not None]

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    @property
    def response_json(self) -> Any:
        """The JSON body the fake answered with (None for non-JSON or hanging replies)."""
        if self.response_body is None:
            return None
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    @property
    def result_image(self) -> bytes | None:
        """The final (non-thought) image the fake answered with, if any."""
        return self.response_images[-1] if self.response_images else None


def _parse_part(raw: Any) -> RecordedPart:
    if not isinstance(raw, dict):
        return RecordedPart(raw={"_invalid": raw})
    part = RecordedPart(raw=raw, text=raw.get("text"), thought=bool(raw.get("thought", False)))
    inline = _get(raw, "inlineData", "inline_data")
    if isinstance(inline, dict):
        data = inline.get("data")
        part.image = decode_b64(data) if isinstance(data, str) else None
        part.mime_type = _get(inline, "mimeType", "mime_type")
    signature = _get(raw, "thoughtSignature", "thought_signature")
    if isinstance(signature, str):
        part.thought_signature = decode_b64(signature)
    return part


def _parse_contents(raw: Any) -> list[RecordedContent]:
    if not isinstance(raw, list):
        return []
    contents = []
    for item in raw:
        if not isinstance(item, dict):
            contents.append(RecordedContent(role=None, parts=[]))
            continue
        parts = item.get("parts")
        contents.append(
            RecordedContent(
                role=item.get("role"),
                parts=[_parse_part(p) for p in parts] if isinstance(parts, list) else [],
            )
        )
    return contents


# --------------------------------------------------------------------------- scripting


ReplyKind = Literal["image", "text", "finish", "blocked", "error", "raw", "hang", "delay"]


@dataclass(frozen=True)
class Reply:
    """A scripted answer. Build with the classmethods; fields are an implementation detail."""

    kind: ReplyKind
    status: int = 200
    text: str | None = None
    png: bytes | None = None
    mime_type: str = "image/png"
    finish_reason: str = "STOP"
    finish_message: str | None = None
    with_content: bool = False
    error_body: dict[str, Any] | None = None
    body: bytes = b""
    content_type: str = _JSON_CT
    seconds: float = 0.0
    then: Reply | None = None

    @classmethod
    def image(
        cls,
        png: bytes | None = None,
        text: str | None = DEFAULT_TEXT,
        mime_type: str = "image/png",
    ) -> Reply:
        """A successful edit. ``png=None`` uses the fake's per-request generated image."""
        return cls(kind="image", png=png, text=text, mime_type=mime_type)

    @classmethod
    def text_only(cls, text: str) -> Reply:
        """The model answered with words only (e.g. a question), finish STOP."""
        return cls(kind="text", text=text)

    @classmethod
    def finish(
        cls,
        reason: str,
        with_content: bool = False,
        message: str | None = None,
        text: str = "I can't help with that image.",
    ) -> Reply:
        """A candidate that stopped for ``reason`` (IMAGE_SAFETY, NO_IMAGE, unknown ones...)."""
        return cls(
            kind="finish",
            finish_reason=reason,
            with_content=with_content,
            finish_message=message,
            text=text,
        )

    @classmethod
    def prompt_blocked(
        cls, reason: str = "PROHIBITED_CONTENT", message: str | None = None
    ) -> Reply:
        """No candidates at all, only ``promptFeedback.blockReason``."""
        return cls(
            kind="blocked",
            finish_reason=reason,
            finish_message=message or "The prompt was blocked due to prohibited content.",
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        status_name: str | None = None,
        retry_delay: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> Reply:
        """A ``google.rpc.Status`` error body; ``retry_delay`` adds RetryInfo + QuotaFailure.

        ``{model}`` and ``{api_version}`` anywhere in the body are filled in from the request.
        """
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": status_name or _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        extra = list(details or [])
        if retry_delay is not None:
            extra = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": (
                                "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                            ),
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": "{model}"},
                            "quotaValue": "10",
                        }
                    ],
                },
                *extra,
            ]
        if extra:
            error["details"] = extra
        return cls(kind="error", status=status, error_body={"error": error})

    @classmethod
    def rate_limited(cls, retry_delay: str | None = "1s") -> Reply:
        """429 RESOURCE_EXHAUSTED as Gemini sends it for quota (with RetryInfo unless None)."""
        return cls.error(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
            "rate-limits.",
            "RESOURCE_EXHAUSTED",
            retry_delay=retry_delay,
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        """500 INTERNAL, 503 UNAVAILABLE ("model is overloaded") or 504 DEADLINE_EXCEEDED."""
        return cls.error(status, _SERVER_MESSAGES.get(status, "Internal error."))

    @classmethod
    def not_found(cls, model: str | None = None) -> Reply:
        """404 for a retired/unknown model id (``None``: the model of the request)."""
        return cls.error(
            404,
            f"models/{model or '{model}'} is not found for API version {{api_version}}, or is "
            "not supported for generateContent. Call ListModels to see the list of available "
            "models and their supported methods.",
            "NOT_FOUND",
        )

    @classmethod
    def malformed(cls, kind: Literal["not json", "no candidates"] = "not json") -> Reply:
        """A 200 the client cannot use: a non-JSON body, or JSON with no candidates at all."""
        if kind == "not json":
            return cls.raw(200, b"<html><body>upstream proxy says hi</body></html>", "text/html")
        body = json.dumps({"modelVersion": "fake", "responseId": "malformed"}).encode()
        return cls.raw(200, body)

    @classmethod
    def raw(cls, status: int, body: bytes, content_type: str = _JSON_CT) -> Reply:
        """Exact bytes on the wire, for shapes no other constructor covers."""
        return cls(kind="raw", status=status, body=body, content_type=content_type)

    @classmethod
    def hang(cls) -> Reply:
        """Never answer (until the fake closes): for client timeout tests."""
        return cls(kind="hang")

    @classmethod
    def delay(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` server-side, then answer ``then`` (default reply if None)."""
        return cls(kind="delay", seconds=seconds, then=then)


# --------------------------------------------------------------------------- the server


class _SignatureError(Exception):
    def __init__(self, content_pos: int, part_pos: int) -> None:
        super().__init__(content_pos, part_pos)
        self.content_pos = content_pos
        self.part_pos = part_pos


class GeminiFake:
    """An aiohttp server speaking the Gemini ``generateContent`` REST protocol on 127.0.0.1."""

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
        self.requests: list[RecordedRequest] = []
        self.issued_signatures: list[bytes] = []
        self._issued: set[bytes] = set()
        self._script: deque[Reply] = deque()
        self._png_cache: dict[tuple[int, int, int, int, int], bytes] = {}
        self._cond = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

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
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/{version}/models/{model_action}", self._handle)
        # Hanging handlers are released by _closing, so the short shutdown timeout suffices.
        self._runner, self._port = await serve(app)

    async def close(self) -> None:
        """Release hanging/sleeping handlers, then stop the server."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("GeminiFake is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ test helpers

    def script(self, *replies: Reply) -> None:
        """Queue replies, consumed one per (accepted) request; then back to the default."""
        self._script.extend(replies)

    @property
    def pending_replies(self) -> int:
        return len(self._script)

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is the point of this helper
    ) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests have arrived; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: len(self.requests) >= n)
        return self.requests[:n]

    def make_png(self, index: int, *, draft: bool = False) -> bytes:
        """The default result image for request ``index`` (0-based): a distinct solid colour.

        Cached, so it is cheap to call from tests to predict what the fake sends.
        """
        w, h = self.default_image_size
        colour = (index & 0xFF, (index >> 8) & 0xFF, 0x30 if draft else 0xC0)
        key = (w, h, *colour)
        png = self._png_cache.get(key)
        if png is None:
            buf = io.BytesIO()
            Image.new("RGB", (w, h), colour).save(buf, format="PNG")
            png = self._png_cache[key] = buf.getvalue()
        return png

    def issue_signature(self) -> bytes:
        """A fresh signature the fake will accept later (also usable to forge valid history)."""
        sig = os.urandom(32)
        self.issued_signatures.append(sig)
        self._issued.add(sig)
        return sig

    # ------------------------------------------------------------------ request handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["model_action"].partition(":")
        api_version = request.match_info["version"]
        raw_body = await request.read()
        try:
            raw = json.loads(raw_body) if raw_body else {}
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            contents = _parse_contents(raw.get("contents"))
            bad_json = False
        except (ValueError, binascii.Error):
            raw, contents, bad_json = {}, [], True
        gen_config = _get(raw, "generationConfig", "generation_config")
        rec = RecordedRequest(
            model=model,
            api_version=api_version,
            action=action,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            contents=contents,
            generation_config=gen_config if isinstance(gen_config, dict) else None,
        )
        index = len(self.requests)
        async with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

        response = await self._respond(rec, index, bad_json)
        if isinstance(response, web.Response):
            rec.response_status = response.status
            body = response.body
            rec.response_body = body if isinstance(body, bytes) else None
        return response

    async def _respond(self, rec: RecordedRequest, index: int, bad_json: bool) -> web.Response:
        if action_error := self._check_request(rec, bad_json):
            return self._render(action_error, rec, index)
        if self.gemini3:
            try:
                self._validate_signatures(rec)
            except _SignatureError as e:
                return self._render(
                    Reply.error(
                        400,
                        "Image part is missing a thought_signature in content position "
                        f"{e.content_pos}, part position {e.part_pos}.{SIGNATURE_HELP}",
                        "INVALID_ARGUMENT",
                    ),
                    rec,
                    index,
                )
        if self._script:
            reply = self._script.popleft()
        else:
            reply = Reply.image()
            await self._sleep(self.latency)
        while reply.kind == "delay":
            await self._sleep(reply.seconds)
            reply = reply.then or Reply.image()
        if reply.kind == "hang":
            await self._closing.wait()
            return web.Response(status=503, text="fake closed", content_type="text/plain")
        return self._render(reply, rec, index)

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
        if rec.action != "generateContent":
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

    async def _sleep(self, seconds: float) -> None:
        """Sleep server-side, but wake up at once when the fake closes."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    # ------------------------------------------------------------------ rendering

    def _b64(self, data: bytes) -> str:
        if self.response_case == "snake":
            return base64.urlsafe_b64encode(data).decode("ascii")
        return base64.b64encode(data).decode("ascii")

    def _image_part(
        self, rec: RecordedRequest, data: bytes, mime: str, **extra: Any
    ) -> dict[str, Any]:
        rec.response_images.append(data)
        return {"inlineData": {"mimeType": mime, "data": self._b64(data)}, **extra}

    def _signed(self) -> dict[str, Any]:
        return {"thoughtSignature": self._b64(self.issue_signature())}

    def _usage(
        self, rec: RecordedRequest, out_images: int, out_text: str | None, thoughts: bool
    ) -> dict[str, Any]:
        in_images = len(rec.images)
        in_text = sum(len(p.text or "") for c in rec.contents for p in c.parts) // 4 + 1
        prompt_details = [{"modality": "TEXT", "tokenCount": in_text}]
        if in_images:
            prompt_details.append(
                {"modality": "IMAGE", "tokenCount": in_images * _TOKENS_PER_INPUT_IMAGE}
            )
        out_text_tokens = len(out_text or "") // 4 + (1 if out_text else 0)
        cand_details = []
        if out_images:
            cand_details.append(
                {"modality": "IMAGE", "tokenCount": out_images * _TOKENS_PER_OUTPUT_IMAGE}
            )
        if out_text_tokens:
            cand_details.append({"modality": "TEXT", "tokenCount": out_text_tokens})
        prompt = in_text + in_images * _TOKENS_PER_INPUT_IMAGE
        cand = out_text_tokens + out_images * _TOKENS_PER_OUTPUT_IMAGE
        usage: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": cand,
            "totalTokenCount": prompt + cand + (_TOKENS_PER_THOUGHTS if thoughts else 0),
            "promptTokensDetails": prompt_details,
        }
        if cand_details:
            usage["candidatesTokensDetails"] = cand_details
        if thoughts:
            usage["thoughtsTokenCount"] = _TOKENS_PER_THOUGHTS
        return usage

    def _envelope(self, rec: RecordedRequest, body: dict[str, Any]) -> dict[str, Any]:
        body["modelVersion"] = rec.model
        body["responseId"] = secrets.token_urlsafe(16)
        return body

    def _json(self, status: int, body: dict[str, Any], snake: bool = True) -> web.Response:
        if snake and self.response_case == "snake":
            body = _to_snake(body)
        return web.Response(
            status=status,
            body=json.dumps(body).encode(),
            headers={"Content-Type": _JSON_CT},
        )

    def _candidate(
        self, parts: list[dict[str, Any]] | None, reason: str, message: str | None = None
    ) -> dict[str, Any]:
        cand: dict[str, Any] = {}
        if parts is not None:
            cand["content"] = {"role": "model", "parts": parts}
        cand["finishReason"] = reason
        if message is not None:
            cand["finishMessage"] = message
        cand["index"] = 0
        return cand

    def _render(self, reply: Reply, rec: RecordedRequest, index: int) -> web.Response:
        body: dict[str, Any]
        if reply.kind == "raw":
            return web.Response(
                status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type}
            )
        if reply.kind == "error":
            text = json.dumps(reply.error_body)
            text = text.replace("{model}", rec.model).replace("{api_version}", rec.api_version)
            return web.Response(
                status=reply.status, body=text.encode(), headers={"Content-Type": _JSON_CT}
            )
        if reply.kind == "blocked":
            body = {
                "promptFeedback": {
                    "blockReason": reply.finish_reason,
                    "blockReasonMessage": reply.finish_message,
                },
                "usageMetadata": self._usage(rec, 0, None, thoughts=False),
            }
            return self._json(200, self._envelope(rec, body))
        if reply.kind == "finish":
            content = [{"text": reply.text}] if reply.with_content else None
            body = {
                "candidates": [
                    self._candidate(content, reply.finish_reason, reply.finish_message)
                ],
                "usageMetadata": self._usage(rec, 0, reply.text if content else None, False),
            }
            return self._json(200, self._envelope(rec, body))

        # "image" or "text": a normal answer.
        parts: list[dict[str, Any]] = []
        images = 0
        if self.gemini3:
            parts.append({"text": GEMINI3_THOUGHT_TEXT, "thought": True})
            if reply.kind == "image":
                draft = self.make_png(index, draft=True)
                parts.append(self._image_part(rec, draft, "image/png", thought=True))
        if reply.text is not None:
            text = GEMINI3_TEXT if self.gemini3 and reply.text == DEFAULT_TEXT else reply.text
            parts.append({"text": text, **(self._signed() if self.gemini3 else {})})
        if reply.kind == "image":
            final = reply.png if reply.png is not None else self.make_png(index)
            extra = self._signed() if self.gemini3 else {}
            parts.append(self._image_part(rec, final, reply.mime_type, **extra))
            images = 1
        body = {
            "candidates": [self._candidate(parts, "STOP")],
            "usageMetadata": self._usage(rec, images, reply.text, thoughts=self.gemini3),
        }
        return self._json(200, self._envelope(rec, body))

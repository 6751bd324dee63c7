"""Answer bodies as Gemini writes them: candidates, parts, usage, signatures, either key case."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from PIL import Image

from tests.fakes.gemini.grounding import grounding_metadata
from tests.fakes.gemini.records import RecordedRequest
from tests.fakes.gemini.replies import DEFAULT_TEXT, JSON_CT, MAX_DRAFTS, Reply

GEMINI3_THOUGHT_TEXT = "thinking..."


GEMINI3_TEXT = "Here it is"


# Token counts as documented for the Gemini image models (API-NOTES A5); only plausibility matters.
_TOKENS_PER_INPUT_IMAGE = 560


_TOKENS_PER_OUTPUT_IMAGE = 1290


_TOKENS_PER_THOUGHTS = 180


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _to_snake(value: Any) -> Any:
    """Rename every dict key of a response body to snake_case (values untouched)."""
    if isinstance(value, dict):
        return {_snake(k): _to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_snake(v) for v in value]
    return value


@dataclass
class AnswerPart:
    """One part of a normal answer: its camelCase JSON and when it is due (seconds after the
    request arrived; only streams honour it)."""

    json: dict[str, Any]
    at: float = 0.0
    image: bytes | None = None  # the inline image, recorded when the part goes out


@dataclass
class Answer:
    """A normal answer before it goes on the wire, whole or as a stream."""

    thoughts: list[AnswerPart]
    final: list[AnswerPart]
    final_at: float
    finish: dict[str, Any]  # extra fields of the finishing candidate (groundingMetadata)
    usage: dict[str, Any]
    response_id: str


class AnswerRendering:
    """Renders replies for ``GeminiFake``: the state it needs is declared here."""

    gemini3: bool
    response_case: Literal["camel", "snake"]
    default_image_size: tuple[int, int]
    issued_signatures: list[bytes]
    grounding_sources: list[tuple[str, str]]
    _issued: set[bytes]
    _png_cache: dict[tuple[int, int, int, int, int], bytes]

    def make_png(self, index: int, *, draft: bool = False) -> bytes:
        """The default result image for request ``index`` (0-based): a distinct solid colour.

        Cached, so it is cheap to call from tests to predict what the fake sends.
        """
        return self._solid_png(index, 0x30 if draft else 0xC0)

    def draft_png(self, index: int, n: int) -> bytes:
        """Thought image ``n`` (0-based) of request ``index``; ``draft_png(i, 0)`` is
        ``make_png(i, draft=True)``. Distinct per draft and from the final image."""
        if not 0 <= n < MAX_DRAFTS:
            raise ValueError(f"draft index must be in [0, {MAX_DRAFTS}), got {n}")
        return self._solid_png(index, 0x30 + 0x10 * n)

    def _solid_png(self, index: int, blue: int) -> bytes:
        w, h = self.default_image_size
        colour = (index & 0xFF, (index >> 8) & 0xFF, blue)
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

    def _b64(self, data: bytes) -> str:
        if self.response_case == "snake":
            return base64.urlsafe_b64encode(data).decode("ascii")
        return base64.b64encode(data).decode("ascii")

    def _image_part(self, data: bytes, mime: str, at: float, **extra: Any) -> AnswerPart:
        part = {"inlineData": {"mimeType": mime, "data": self._b64(data)}, **extra}
        return AnswerPart(part, at, image=data)

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

    def _envelope(
        self, rec: RecordedRequest, body: dict[str, Any], response_id: str | None = None
    ) -> dict[str, Any]:
        body["modelVersion"] = rec.model
        body["responseId"] = response_id or secrets.token_urlsafe(16)
        return body

    def _wire(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` in the fake's ``response_case``."""
        return _to_snake(body) if self.response_case == "snake" else body

    def _json(self, status: int, body: dict[str, Any], snake: bool = True) -> web.Response:
        if snake:
            body = self._wire(body)
        return web.Response(
            status=status,
            body=json.dumps(body).encode(),
            headers={"Content-Type": JSON_CT},
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

    def _error_response(self, reply: Reply, rec: RecordedRequest) -> web.Response:
        return web.Response(
            status=reply.status,
            body=self._error_text(reply, rec).encode(),
            headers={"Content-Type": JSON_CT},
        )

    def _error_text(self, reply: Reply, rec: RecordedRequest) -> str:
        text = json.dumps(reply.error_body)
        return text.replace("{model}", rec.model).replace("{api_version}", rec.api_version)

    def _render(self, reply: Reply, rec: RecordedRequest, index: int) -> web.Response:
        """The whole (non-streamed) HTTP answer to ``reply``."""
        if reply.kind == "raw":
            return web.Response(
                status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type}
            )
        if reply.kind == "error":
            return self._error_response(reply, rec)
        if reply.kind in ("image", "text", "thinking"):
            # Non-streamed answers always show their thoughts (what the existing tests pin).
            answer = self._answer(reply, rec, index, show_thoughts=True)
            parts = [*answer.thoughts, *answer.final]
            rec.response_images.extend(p.image for p in parts if p.image is not None)
            cand = self._candidate([p.json for p in parts], "STOP")
            cand = {**cand, **answer.finish}
            body = {"candidates": [cand], "usageMetadata": answer.usage}
            return self._json(200, self._envelope(rec, body, answer.response_id))
        return self._json(200, self._envelope(rec, self._body(reply, rec)))

    def _body(self, reply: Reply, rec: RecordedRequest) -> dict[str, Any]:
        """The body of a one-piece answer: a finish reason or a blocked prompt."""
        if reply.kind == "blocked":
            return {
                "promptFeedback": {
                    "blockReason": reply.finish_reason,
                    "blockReasonMessage": reply.finish_message,
                },
                "usageMetadata": self._usage(rec, 0, None, thoughts=False),
            }
        if reply.kind == "finish":
            content = [{"text": reply.text}] if reply.with_content else None
            return {
                "candidates": [
                    self._candidate(content, reply.finish_reason, reply.finish_message)
                ],
                "usageMetadata": self._usage(rec, 0, reply.text if content else None, False),
            }
        raise ValueError(f"{reply.kind} replies have no body")

    def _answer(
        self, reply: Reply, rec: RecordedRequest, index: int, *, show_thoughts: bool
    ) -> Answer:
        """A normal answer ("image", "text" or "thinking"), part by part with due times.

        The model thinks when the fake is Gemini 3 or the reply is scripted thinking; whether
        the thoughts are shown is the caller's call. Thinking answers carry signatures.
        """
        thinks = self.gemini3 or reply.kind == "thinking"
        thoughts: list[AnswerPart] = []
        if show_thoughts and reply.kind == "thinking":
            lines = iter(reply.thoughts)
            if (line := next(lines, None)) is not None:
                thoughts.append(AnswerPart({"text": line, "thought": True}))
            for n, at in enumerate(reply.draft_at):
                draft = self.draft_png(index, n)
                thoughts.append(self._image_part(draft, "image/png", at, thought=True))
                if (line := next(lines, None)) is not None:
                    thoughts.append(AnswerPart({"text": line, "thought": True}, at))
        elif show_thoughts and thinks:
            thoughts.append(AnswerPart({"text": GEMINI3_THOUGHT_TEXT, "thought": True}))
            if reply.kind == "image":
                draft = self.make_png(index, draft=True)
                thoughts.append(self._image_part(draft, "image/png", 0.0, thought=True))

        final_at = reply.final_at if reply.kind == "thinking" else 0.0
        final: list[AnswerPart] = []
        text = reply.text
        if text is not None:
            text = GEMINI3_TEXT if self.gemini3 and text == DEFAULT_TEXT else text
            signed = self._signed() if thinks else {}
            final.append(AnswerPart({"text": text, **signed}, final_at))
        images = 0
        if reply.kind in ("image", "thinking"):
            png = reply.png if reply.png is not None else self.make_png(index)
            extra = self._signed() if thinks else {}
            final.append(self._image_part(png, reply.mime_type, final_at, **extra))
            images = 1

        finish: dict[str, Any] = {}
        if rec.google_search:
            finish["groundingMetadata"] = grounding_metadata(rec, self.grounding_sources, text)
        return Answer(
            thoughts=thoughts,
            final=final,
            final_at=final_at,
            finish=finish,
            usage=self._usage(rec, images, reply.text, thoughts=thinks),
            response_id=secrets.token_urlsafe(16),
        )

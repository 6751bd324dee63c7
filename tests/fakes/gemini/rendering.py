"""Answer bodies as Gemini writes them: candidates, parts, usage, signatures, either key case."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
from typing import Any, Literal

from aiohttp import web
from PIL import Image

from tests.fakes.gemini.records import RecordedRequest
from tests.fakes.gemini.replies import DEFAULT_TEXT, JSON_CT, Reply

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


class AnswerRendering:
    """Renders replies for ``GeminiFake``: the state it needs is declared here."""

    gemini3: bool
    response_case: Literal["camel", "snake"]
    default_image_size: tuple[int, int]
    issued_signatures: list[bytes]
    _issued: set[bytes]
    _png_cache: dict[tuple[int, int, int, int, int], bytes]

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
                status=reply.status, body=text.encode(), headers={"Content-Type": JSON_CT}
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

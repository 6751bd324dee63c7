"""What the fake recorded of each request, decoded: turns, parts, images, signatures."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any


def decode_b64(value: str | bytes) -> bytes:
    """Decode standard or URL-safe base64, with or without padding (the SDK sends URL-safe)."""
    text = value.decode("ascii") if isinstance(value, bytes) else value
    text = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    return base64.b64decode(text, validate=True)


def either_case(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """Read a key in either spelling: the API speaks camelCase, the SDK sends some snake_case."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake)


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
    """Everything about one ``generateContent`` / ``streamGenerateContent`` call, plus what the
    fake answered.

    For streams, ``response_body`` is the SSE bytes written so far, ``chunks`` the decoded
    event payloads and ``chunk_times`` when each was written (seconds after arrival).
    ``disconnected_after`` is set when the client left before the fake finished answering
    (watched for streams and ``Reply.thinking`` only).
    """

    model: str
    api_version: str
    action: str
    headers: dict[str, str]
    raw: dict[str, Any]
    contents: list[RecordedContent]
    generation_config: dict[str, Any] | None
    tools: list[Any] | None = None
    response_status: int | None = None
    response_body: bytes | None = None
    response_images: list[bytes] = field(default_factory=list)
    chunks: list[Any] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    disconnected_after: float | None = None
    arrived_at: float = 0.0  # the fake's loop time when the request arrived
    answered_at: float | None = None  # ... and when its answer was complete

    @property
    def streamed(self) -> bool:
        """Whether this was a ``streamGenerateContent`` call."""
        return self.action == "streamGenerateContent"

    @property
    def include_thoughts(self) -> bool:
        """``generationConfig.thinkingConfig.includeThoughts``, either key case (the SDK sends
        ``thinkingConfig`` with a snake ``include_thoughts``)."""
        thinking = either_case(self.generation_config or {}, "thinkingConfig", "thinking_config")
        if not isinstance(thinking, dict):
            return False
        return either_case(thinking, "includeThoughts", "include_thoughts") is True

    @property
    def google_search(self) -> bool:
        """Whether ``tools`` holds a ``googleSearch`` (or ``google_search``) tool."""
        return any(
            isinstance(t, dict) and either_case(t, "googleSearch", "google_search") is not None
            for t in self.tools or []
        )

    @property
    def images(self) -> list[bytes]:
        """All inline images of the request, in order (all turns, all parts)."""
        return [p.image for c in self.contents for p in c.parts if p.image is not None]

    @property
    def api_key(self) -> str | None:
        """The API key the request carried."""
        return self.headers.get("x-goog-api-key")

    @property
    def response_json(self) -> Any:
        """The JSON body the fake answered with (None for non-JSON, hanging or streamed
        replies; see ``chunks`` for streams)."""
        if self.response_body is None:
            return None
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    @property
    def answer_content(self) -> Any:
        """The model content the fake answered (JSON), assembled from the chunks of a stream
        by the rule in ``streaming.py``; None when it answered no content."""
        if not self.streamed:
            body = self.response_json
            candidates = body.get("candidates") if isinstance(body, dict) else None
            return candidates[0].get("content") if candidates else None
        parts: list[dict[str, Any]] = []
        for chunk in self.chunks:
            candidates = chunk.get("candidates") if isinstance(chunk, dict) else None
            content = (candidates[0].get("content") if candidates else None) or {}
            for part in content.get("parts", []):
                last = parts[-1] if parts else None
                if last is not None and _continues(last, part):
                    merged = {**last, "text": last["text"] + part["text"]}
                    for key in ("thoughtSignature", "thought_signature"):
                        if key in part:
                            merged[key] = part[key]
                    parts[-1] = merged
                else:
                    parts.append(dict(part))
        return {"role": "model", "parts": parts} if parts else None

    @property
    def result_image(self) -> bytes | None:
        """The final (non-thought) image the fake answered with, if any."""
        return self.response_images[-1] if self.response_images else None


def _continues(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether streamed text part ``after`` is the rest of ``before``."""

    def signed(part: dict[str, Any]) -> bool:
        return either_case(part, "thoughtSignature", "thought_signature") is not None

    return (
        "text" in before
        and "text" in after
        and bool(before.get("thought")) == bool(after.get("thought"))
        and not (signed(before) and signed(after))
    )


def _parse_part(raw: Any) -> RecordedPart:
    if not isinstance(raw, dict):
        return RecordedPart(raw={"_invalid": raw})
    part = RecordedPart(raw=raw, text=raw.get("text"), thought=bool(raw.get("thought", False)))
    inline = either_case(raw, "inlineData", "inline_data")
    if isinstance(inline, dict):
        data = inline.get("data")
        part.image = decode_b64(data) if isinstance(data, str) else None
        part.mime_type = either_case(inline, "mimeType", "mime_type")
    signature = either_case(raw, "thoughtSignature", "thought_signature")
    if isinstance(signature, str):
        part.thought_signature = decode_b64(signature)
    return part


def parse_contents(raw: Any) -> list[RecordedContent]:
    """Decode a ``contents`` list as the fake records it."""
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

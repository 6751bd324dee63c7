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
        """The API key the request carried."""
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

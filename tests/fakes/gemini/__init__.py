"""Loopback fake of the Gemini REST API (``generateContent`` and ``streamGenerateContent``).

Why a real HTTP server: with aiohttp installed, google-genai's async client sends through
aiohttp, so httpx/respx mocks never see the traffic. Pointing the real SDK at this server via
``HttpOptions(base_url=fake.base_url)`` tests the wire format we actually depend on.

Usage::

    async with GeminiFake(gemini3=True) as fake:
        fake.script(Reply.rate_limited("2s"), Reply.image(png))
        ...  # drive the code under test against fake.base_url
        await fake.wait_for_requests(2)  # or fake.wait_for(lambda: ...), as every fake
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
- ``:streamGenerateContent?alt=sse`` answers the same scripts as server-sent events (see
  ``streaming`` for the split and the assembly rule); ``Reply.thinking`` scripts a timeline of
  thoughts and draft images for live previews. Thought parts are streamed only when the
  request asks for them (``includeThoughts``); plain answers show them whenever the model
  thinks, as before.
- A request with a ``googleSearch`` tool gets ``groundingMetadata`` citing
  ``fake.grounding_sources``.
- Sleeps and hangs end as soon as the fake closes, so ``async with`` exit is prompt.

Layout: ``records`` (what was sent), ``replies`` (what to answer), ``rendering`` (answer bodies),
``streaming`` (answers as events), ``grounding`` (search metadata), ``server`` (HTTP, script,
waits).
"""

from tests.fakes.gemini.grounding import DEFAULT_SOURCES
from tests.fakes.gemini.records import (
    RecordedContent,
    RecordedPart,
    RecordedRequest,
    decode_b64,
    parse_contents,
)
from tests.fakes.gemini.replies import DEFAULT_TEXT, DEFAULT_THOUGHTS, Reply
from tests.fakes.gemini.server import GeminiFake

__all__ = [
    "DEFAULT_SOURCES",
    "DEFAULT_TEXT",
    "DEFAULT_THOUGHTS",
    "GeminiFake",
    "RecordedContent",
    "RecordedPart",
    "RecordedRequest",
    "Reply",
    "decode_b64",
    "parse_contents",
]

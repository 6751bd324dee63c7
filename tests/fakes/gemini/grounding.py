"""Search grounding as Gemini attaches it to a candidate when the request has ``googleSearch``."""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Any
from urllib.parse import quote_plus

from tests.fakes.gemini.records import RecordedRequest


def redirect_uri(title: str) -> str:
    """A source link as the API gives it: an opaque Vertex redirect, not the page itself."""
    token = base64.urlsafe_b64encode(hashlib.sha256(title.encode()).digest() * 3).decode()
    return (
        f"https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQ{token.rstrip('=')}"
    )


# Six, so that a client's "show at most five sources" cap is visible in tests.
DEFAULT_SOURCES: tuple[tuple[str, str], ...] = tuple(
    (title, redirect_uri(title))
    for title in (
        "wikipedia.org",
        "nationalgeographic.com",
        "britannica.com",
        "unsplash.com",
        "smithsonianmag.com",
        "bbc.co.uk",
    )
)


_STYLE = (
    "<style>\n.container { align-items: center; border-radius: 8px; display: flex; "
    "font-family: Google Sans, Roboto, sans-serif; font-size: 14px; line-height: 20px; "
    "padding: 8px 12px; }\n.chip { display: inline-block; border: solid 1px; "
    "border-radius: 16px; min-width: 14px; padding: 5px 16px; text-align: center; "
    "user-select: none; margin: 0 8px; }\n.carousel { overflow: auto; scrollbar-width: none; "
    "white-space: nowrap; margin-right: -12px; }\n</style>"
)


def _queries(rec: RecordedRequest) -> list[str]:
    """What the model "searched": the last user text, as the real queries paraphrase it."""
    texts = [
        p.text.strip()
        for c in rec.contents
        if c.role in (None, "user")
        for p in c.parts
        if p.text and p.text.strip()
    ]
    prompt = " ".join(texts[-1].split()[:8]) if texts else "image reference"
    return [prompt, f"{prompt} reference photos"]


def grounding_metadata(
    rec: RecordedRequest, sources: list[tuple[str, str]], answer_text: str | None
) -> dict[str, Any]:
    """``groundingMetadata`` in the API's camelCase: queries, the search chip HTML, sources and
    supports (byte offsets into the final text, as the API counts them)."""
    queries = _queries(rec)
    chips = "".join(
        f'<a class="chip" href="https://www.google.com/search?q={quote_plus(q)}'
        f'&amp;client=app-vertex-grounding&amp;safesearch=active">{html.escape(q)}</a>'
        for q in queries
    )
    meta: dict[str, Any] = {
        "searchEntryPoint": {
            "renderedContent": f'{_STYLE}<div class="container"><div class="carousel">'
            f"{chips}</div></div>"
        },
        "webSearchQueries": queries,
    }
    if sources:
        meta["groundingChunks"] = [{"web": {"uri": uri, "title": title}} for title, uri in sources]
        if answer_text:
            meta["groundingSupports"] = [
                {
                    "segment": {
                        "startIndex": 0,
                        "endIndex": len(answer_text.encode()),
                        "text": answer_text,
                    },
                    "groundingChunkIndices": list(range(min(2, len(sources)))),
                }
            ]
    return meta

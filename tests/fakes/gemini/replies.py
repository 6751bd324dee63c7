"""Scripted answers: images, words, thinking, safety stops, Google's errors, hangs, delays."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_TEXT = "Here is your edited image."


JSON_CT = "application/json; charset=UTF-8"


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


DEFAULT_THOUGHTS = (
    "**Sketching the layout**\n\nI am placing the main subject and blocking in the colours.",
    "**Refining the details**\n\nI am sharpening the edges and matching the lighting.",
)


MAX_DRAFTS = 2  # Gemini 3 image models show at most two interim images


ReplyKind = Literal[
    "image", "text", "thinking", "finish", "blocked", "error", "raw", "hang", "delay", "drop"
]


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
    content_type: str = JSON_CT
    seconds: float = 0.0
    then: Reply | None = None
    # Reply.thinking only: the timeline and how it ends.
    draft_at: tuple[float, ...] = ()
    final_at: float = 0.0
    thoughts: tuple[str, ...] = ()
    interrupt: Reply | None = None
    hold: bool = False
    release: asyncio.Event | None = None

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
    def thinking(
        cls,
        draft_at: tuple[float, ...] = (0.5, 1.0),
        final_at: float | None = None,
        thoughts: tuple[str, ...] = DEFAULT_THOUGHTS,
        text: str | None = DEFAULT_TEXT,
        png: bytes | None = None,
        error: Reply | None = None,
        hold: bool = False,
        mime_type: str = "image/png",
        release: asyncio.Event | None = None,
    ) -> Reply:
        """A Gemini 3 answer that thinks visibly, on a timeline (seconds after arrival).

        Streamed with ``includeThoughts``: ``thoughts[0]`` at once; at each ``draft_at`` time a
        thought image (``fake.draft_png(request_index, n)``), then ``thoughts[n + 1]`` if any;
        at ``final_at`` (default: the last draft) the final text and image (``png=None``: the
        fake's ``make_png``), finish STOP. Without ``includeThoughts`` only the final chunks
        are sent, at ``final_at``. Non-streamed: the whole answer (with thought parts) at
        ``final_at``.

        ``error`` (an error Reply or ``Reply.drop()``) replaces the final chunks: an error
        event in the stream, or a dropped connection. ``hold=True`` sends nothing after the
        drafts and keeps the connection open until the client leaves or the fake closes.
        ``release``: the ending also waits for this event (set by the test), so a test can
        act on the drafts without racing the final answer.
        """
        if len(draft_at) > MAX_DRAFTS:
            raise ValueError(f"at most {MAX_DRAFTS} drafts, got {len(draft_at)}")
        if list(draft_at) != sorted(draft_at) or any(t < 0 for t in draft_at):
            raise ValueError(f"draft times must be ascending and >= 0: {draft_at}")
        # Thought lines are separated by draft images, so no two are ever adjacent parts.
        if len(thoughts) > len(draft_at) + 1:
            raise ValueError("at most one thought line more than there are drafts")
        last_draft = draft_at[-1] if draft_at else 0.0
        final = last_draft if final_at is None else final_at
        if final < last_draft:
            raise ValueError(f"final_at {final} is before the last draft at {last_draft}")
        if error is not None and error.kind not in ("error", "drop"):
            raise ValueError(f"error must be an error Reply or Reply.drop(), not {error.kind}")
        if error is not None and hold:
            raise ValueError("a held stream never reaches its error; pick one")
        return cls(
            kind="thinking",
            text=text,
            png=png,
            mime_type=mime_type,
            draft_at=draft_at,
            final_at=final,
            thoughts=thoughts,
            interrupt=error,
            hold=hold,
            release=release,
        )

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
    def raw(cls, status: int, body: bytes, content_type: str = JSON_CT) -> Reply:
        """Exact bytes on the wire, for shapes no other constructor covers."""
        return cls(kind="raw", status=status, body=body, content_type=content_type)

    @classmethod
    def hang(cls) -> Reply:
        """Never answer (until the fake closes): for client timeout tests."""
        return cls(kind="hang")

    @classmethod
    def drop(cls) -> Reply:
        """Close the connection without a word (mid-stream when used as a thinking ``error``)."""
        return cls(kind="drop")

    @classmethod
    def delay(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` server-side, then answer ``then`` (default reply if None)."""
        return cls(kind="delay", seconds=seconds, then=then)

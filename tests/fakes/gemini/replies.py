"""Scripted answers: images, words, safety stops, Google's error bodies, hangs and delays."""

from __future__ import annotations

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
    content_type: str = JSON_CT
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
    def raw(cls, status: int, body: bytes, content_type: str = JSON_CT) -> Reply:
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

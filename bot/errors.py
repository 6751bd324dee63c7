"""The core's error tree.

    BotError
    ├── ConfigError            a config key or value is wrong; names the key
    ├── ImageRejected          user input is not an image we accept (carries a RejectReason)
    ├── InputRejected          other bad input: over-long prompt, too many images
    ├── AccessDenied           the user or chat may not use the bot
    └── ModelError             the model call failed; `retryable` says whether Retry may help
        ├── ModelRateLimited   429: quota or rate limit (`retry_after` seconds when Google said)
        ├── ModelUnavailable   5xx, connection errors
        ├── ModelTimeout       no answer within `gemini.timeout_s`
        ├── ModelNotFound      404: the configured model id does not exist (any more)
        ├── ModelRejected      400/403: the request or the key was refused
        └── ModelBlocked       the prompt or the result was blocked (safety); carries the reason

Adapters catch `BotError` subclasses and show `bot.messages` text; anything else is a bug and is
logged with its traceback by the adapter's single error boundary.
"""

from __future__ import annotations

import enum


class BotError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(BotError):
    """A config key or value is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config error at {key}: {problem}")
        self.key = key
        self.problem = problem


class RejectReason(enum.StrEnum):
    """Why an uploaded file was refused; each has a localized message."""

    EMPTY = "empty"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT = "corrupt"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_LARGE = "too_large"
    BAD_DIMENSIONS = "bad_dimensions"


class ImageRejected(BotError):
    """An uploaded file is not an image we can send to the model."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"image rejected: {reason.value}{': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


class InputRejected(BotError):
    """The request is malformed in a way the user can fix (too long, too many images)."""

    def __init__(self, message_key: str, **params: object) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.params = params


class AccessDenied(BotError):
    """The user or chat is not allowed to use the bot."""


class ModelError(BotError):
    """The model call failed."""

    retryable = True

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ModelRateLimited(ModelError):
    """Gemini answered 429 RESOURCE_EXHAUSTED."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code=429)
        self.retry_after = retry_after


class ModelUnavailable(ModelError):
    """Gemini answered 5xx or could not be reached."""


class ModelTimeout(ModelError):
    """Gemini did not answer in time."""


class ModelNotFound(ModelError):
    """The configured model id does not exist."""

    retryable = False

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message, code=404)
        self.model = model


class ModelRejected(ModelError):
    """Gemini refused the request (400 invalid argument, 403 permission denied)."""

    retryable = False


SAFETY_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "OTHER",
    }
)


class ModelBlocked(ModelError):
    """The answer has nothing to show; `reason` is Gemini's finish or block reason.

    Safety reasons (`is_safety`) mean the content was refused; others (NO_IMAGE, MAX_TOKENS,
    reasons newer than this code) mean the model simply produced nothing usable.
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason

    @property
    def is_safety(self) -> bool:
        return self.reason in SAFETY_REASONS

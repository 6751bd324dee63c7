"""Turn core states into the user's sentences: why a step failed, what is left today."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import messages
from bot.errors import (
    AccessDenied,
    BotError,
    ImageRejected,
    InputRejected,
    ModelBlocked,
    ModelError,
    ModelNotFound,
    ModelRateLimited,
    ModelRejected,
    ModelTimeout,
)
from bot.outcome import Failure, FailureKind
from bot.quotas import QuotaExceeded, QuotaStatus


def setting_label(key: str, locale: str | None) -> str:
    """A setting's name for people ("Aspect ratio"); the key itself for one we do not know."""
    return _text_or(f"setting_{key}", locale, key)


def _text_or(key: str, locale: str | None, fallback: str) -> str:
    """The message `key`, or `fallback` when the catalog has no such key."""
    try:
        return messages.text(key, locale)
    except KeyError:
        return fallback


def until(moment: datetime) -> tuple[int, int]:
    """Hours and minutes from now until `moment`."""
    minutes = max(0, int((moment - datetime.now(UTC)).total_seconds()) // 60)
    return divmod(minutes, 60)


def failure_for(exc: BotError, locale: str | None, user_turn_id: int | None) -> Failure:
    """Explain a core error to the user."""
    t = messages.text
    if isinstance(exc, QuotaExceeded):
        hours, minutes = until(exc.resets_at)
        if exc.left > 0:  # some left, fewer than asked: say how many
            message = t("quota_fewer_left", locale, wanted=exc.wanted, left=exc.left)
        elif exc.scope.startswith("cost_"):
            budget = f"{exc.budget:.2f}"
            message = t(f"quota_{exc.scope}", locale, budget=budget, hours=hours, minutes=minutes)
        else:
            message = t(
                f"quota_{exc.scope}", locale, limit=exc.limit, hours=hours, minutes=minutes
            )
        return Failure(FailureKind.QUOTA, message, error=exc)
    if isinstance(exc, AccessDenied):
        return Failure(FailureKind.ACCESS, t("access_denied", locale), error=exc)
    if isinstance(exc, ImageRejected):
        return Failure(FailureKind.INPUT, t(f"image_{exc.reason.value}", locale), error=exc)
    if isinstance(exc, InputRejected) and exc.message_key == "bad_setting":
        key, value = str(exc.params.get("key", "")), str(exc.params.get("value", ""))
        message = t("bad_setting", locale, value=value, setting=setting_label(key, locale))
        return Failure(FailureKind.INPUT, message, error=exc)
    if isinstance(exc, InputRejected):
        return Failure(FailureKind.INPUT, t(exc.message_key, locale, **exc.params), error=exc)
    if isinstance(exc, ModelBlocked):
        key = "blocked_safety" if exc.is_safety else "blocked_no_image"
        return Failure(
            FailureKind.BLOCKED, t(key, locale, reason=exc.reason), user_turn_id, True, exc
        )
    if isinstance(exc, ModelRateLimited):
        message = (
            t("rate_limited_wait", locale, seconds=round(exc.retry_after))
            if exc.retry_after
            else t("rate_limited", locale)
        )
        return Failure(FailureKind.MODEL, message, user_turn_id, True, exc)
    if isinstance(exc, ModelNotFound):
        message = t("model_not_found", locale, model=exc.model)
        return Failure(FailureKind.MODEL, message, user_turn_id, False, exc)
    if isinstance(exc, ModelTimeout):
        return Failure(FailureKind.MODEL, t("model_timeout", locale), user_turn_id, True, exc)
    if isinstance(exc, ModelRejected):
        message = t("model_rejected", locale, detail=str(exc)[:300])
        return Failure(FailureKind.MODEL, message, user_turn_id, exc.retryable, exc)
    if isinstance(exc, ModelError):
        return Failure(FailureKind.MODEL, t("model_unavailable", locale), user_turn_id, True, exc)
    return Failure(FailureKind.INTERNAL, t("internal_error", locale), user_turn_id, True, exc)


def usage_text(status: QuotaStatus, locale: str | None) -> str:
    """The /usage answer."""
    hours, minutes = until(status.resets_at)
    limited = status.user_limit and not status.exempt
    lines = [
        messages.text(
            "usage_user" if limited else "usage_user_free",
            locale,
            used=status.user_used,
            limit=status.user_limit,
            tokens=status.tokens_today,
        )
    ]
    if status.pool_limit and not status.exempt:
        lines.append(
            messages.text("usage_pool", locale, used=status.pool_used, limit=status.pool_limit)
        )
    if status.cost_today or status.pool_cost_today:
        lines.append(
            messages.text(
                "usage_cost",
                locale,
                mine=f"{status.cost_today:.2f}",
                chat=f"{status.pool_cost_today:.2f}",
            )
        )
    lines.append(messages.text("usage_resets", locale, hours=hours, minutes=minutes))
    return "\n".join(lines)

"""Bot API calls that survive flood control and flaky networks, and the 'working…' indicator."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from PIL import Image
from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)

T = TypeVar("T")

SEND_ATTEMPTS = 4
MAX_FLOOD_WAIT_S = 60.0  # a longer RetryAfter means the chat is flooded: give up on this send
CHAT_ACTION_EVERY_S = 4.0  # Telegram shows an action for "5 seconds or less"
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # sendPhoto limit
PHOTO_MAX_SIDES_SUM = 10_000  # sendPhoto: width + height
PHOTO_MAX_RATIO = 20


def retry_after_seconds(error: RetryAfter) -> float:
    """RetryAfter carries an int or (PTB_TIMEDELTA) a timedelta."""
    value: int | timedelta = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def call(
    action: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    what: str = "send",
) -> T:
    """Run a Bot API call, waiting out flood control and retrying transient network errors.

    `Forbidden` (bot blocked or removed) and `BadRequest` are not retried: they will not heal.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await action()
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            if attempt == SEND_ATTEMPTS or wait > MAX_FLOOD_WAIT_S:
                raise
            log.warning("%s: flood control, waiting %.1fs", what, wait)
            await sleep(wait + 0.1)
        except Forbidden:
            raise
        except (TimedOut, NetworkError) as exc:
            if attempt == SEND_ATTEMPTS:
                raise
            log.warning("%s: %s, retry %d", what, type(exc).__name__, attempt)
            await sleep(0.5 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.asynccontextmanager
async def working(bot: Bot, chat_id: int, thread_id: int | None) -> AsyncIterator[None]:
    """Show "sending photo…" until the block ends."""

    async def keep_showing() -> None:
        while True:
            try:
                await bot.send_chat_action(
                    chat_id, ChatAction.UPLOAD_PHOTO, message_thread_id=thread_id
                )
            except Exception as exc:
                log.debug("chat action failed: %s", exc)
            await asyncio.sleep(CHAT_ACTION_EVERY_S)

    task = asyncio.create_task(keep_showing(), name=f"chat-action-{chat_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def photo_preview(data: bytes) -> bytes:
    """Bytes sendPhoto accepts: `data` itself when it fits, else a JPEG that does."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        fits = (
            len(data) <= PHOTO_MAX_BYTES
            and width + height <= PHOTO_MAX_SIDES_SUM
            and max(width, height) <= PHOTO_MAX_RATIO * min(width, height)
        )
        if fits:
            return data
        image.thumbnail((4096, 4096))
        rgb = image.convert("RGB")
    for quality in (90, 80, 70, 60):
        buf = io.BytesIO()
        rgb.save(buf, "JPEG", quality=quality)
        if buf.tell() <= PHOTO_MAX_BYTES:
            return buf.getvalue()
    rgb.thumbnail((2048, 2048))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=80)
    return buf.getvalue()

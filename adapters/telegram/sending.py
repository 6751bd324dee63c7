"""Bot API calls that survive flood control and flaky networks, and the 'working…' indicator."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from PIL import Image
from telegram import Bot, CallbackQuery, Message, ReplyParameters
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.outcome import ResultImage
from bot.preview import jpeg_preview
from bot.request import Author, ChatKey

log = logging.getLogger(__name__)

T = TypeVar("T")

SEND_ATTEMPTS = 4
MAX_FLOOD_WAIT_S = 60.0  # a longer RetryAfter means the chat is flooded: give up on this send
CHAT_ACTION_EVERY_S = 4.0  # Telegram shows an action for "5 seconds or less"
CHAT_ACTION_PACE_S = 0.05  # at most 20 chat actions per second for the whole bot
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # sendPhoto limit
PHOTO_MAX_SIDES_SUM = 10_000  # sendPhoto: width + height
PHOTO_MAX_RATIO = 20
PREVIEW_MAX_SIDE = 2560  # the largest size Telegram serves a photo at
LARGE_SIDE = 2048  # 2K and 4K results: Telegram's photo would lose much of them


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


async def send_file(
    bot: Bot,
    chat_id: int,
    thread_id: int | None,
    reply_to: int,
    image: ResultImage,
    name: str,
    caption: str | None = None,
) -> Message:
    """A result image as a document, byte for byte (a photo would be recompressed)."""
    return await call(
        lambda: bot.send_document(
            chat_id,
            image.data,
            filename=name,
            caption=caption,
            message_thread_id=thread_id,
            # The message may have been deleted meanwhile.
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True),
            disable_content_type_detection=True,
        ),
        what="sendDocument",
    )


async def is_chat_admin(bot: Bot, chat: ChatKey, author: Author) -> bool:
    """Whether `author` administers the Telegram chat (an admin or its owner)."""
    try:
        member = await bot.get_chat_member(int(chat.chat_id), int(author.user_id))
    except TelegramError as exc:
        log.warning("telegram: getChatMember failed: %s", exc)
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Answer a button press, best effort: the pressed action runs whether or not this works.

    Telegram accepts an answer only shortly after the press ("query is too old and response
    timeout expired or query ID is invalid" after that); the answer only stops the button's
    spinner or shows a short notice.
    """
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as exc:
        log.info("could not answer a button press: %s", exc)


class ChatActions:
    """One pump for every "sending photo…" indicator: one request in flight, FIFO, paced.

    The indicator lasts about 5 s, so each chat that has a step running is refreshed every
    `every_s`. It is cosmetic: under a burst it shows a little later rather than letting
    hundreds of chat actions crowd the real requests in the HTTP connection pool (measured:
    685 chat actions next to 600 real requests in a 200-chat burst before, 95 after).
    """

    def __init__(
        self, bot: Bot, *, pace_s: float = CHAT_ACTION_PACE_S, every_s: float = CHAT_ACTION_EVERY_S
    ) -> None:
        self._bot = bot
        self._pace_s = pace_s
        self._every_s = every_s
        self._due: dict[tuple[int, int | None], float] = {}
        self._holders: Counter[tuple[int, int | None]] = Counter()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def showing(self, chat_id: int, thread_id: int | None) -> AsyncIterator[None]:
        """Show the indicator in a chat (and topic) while the block runs."""
        key = (chat_id, thread_id)
        self._holders[key] += 1
        self._due.setdefault(key, 0.0)  # due now
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(), name="telegram-chat-actions")
        self._wake.set()
        try:
            yield
        finally:
            self._holders[key] -= 1
            if self._holders[key] <= 0:
                del self._holders[key]
                self._due.pop(key, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            key = min(self._due, key=self._due.__getitem__, default=None)
            if key is None or self._due[key] > now:
                self._wake.clear()
                wait = self._due[key] - now if key is not None else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            self._due[key] = now + self._every_s
            try:
                await self._bot.send_chat_action(
                    key[0], ChatAction.UPLOAD_PHOTO, message_thread_id=key[1]
                )
            except Exception as exc:  # cosmetic: must never fail a step
                log.debug("chat action failed: %s", exc)
            await asyncio.sleep(self._pace_s)  # pacing, not synchronization

    async def aclose(self) -> None:
        """Stop the pump."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


@dataclass(frozen=True, slots=True)
class Photo:
    """What to send for one result image."""

    data: bytes  # for sendPhoto
    keep_file: bool  # also send the lossless image as a document


def photo_preview(data: bytes) -> Photo:
    """`data` itself when sendPhoto takes it and keeps it well; else a JPEG preview that it
    takes, with the lossless image to follow as a file."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    fits = (
        len(data) <= PHOTO_MAX_BYTES
        and width + height <= PHOTO_MAX_SIDES_SUM
        and max(width, height) <= PHOTO_MAX_RATIO * min(width, height)
    )
    if fits and max(width, height) < LARGE_SIDE:
        return Photo(data, keep_file=False)
    # A 10 MB JPEG at 2560 px always exists.
    preview = jpeg_preview(data, PHOTO_MAX_BYTES, max_side=PREVIEW_MAX_SIDE)
    return Photo(preview if preview is not None else data, keep_file=True)

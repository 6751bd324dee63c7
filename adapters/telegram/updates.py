"""Read incoming updates one by one, so one that this PTB cannot parse does not stop the bot.

Telegram adds fields and PTB makes them required (a poll without `members_only`, a gift
without its id): `Update.de_json` then raises. PTB's `Bot.get_updates` parses a whole batch at
once, logs it (content included) at CRITICAL and the `Updater` fetches the same batch again at
once, forever, while no other update gets through. Here each update is parsed on its own; one
that fails becomes a bare `Update` with its id (no handler matches it, the offset still moves
past it) and is logged once, by type and ids, never by content.
"""

from __future__ import annotations

import datetime as dtm
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import JSONDict, ODVInput, TimePeriod
from telegram.error import TelegramError
from telegram.ext import ExtBot
from telegram.request import BaseRequest

log = logging.getLogger(__name__)

# Exceptions whose message names parameters or keys, never values (a ValueError may quote one).
_SCHEMA_ERRORS = (TypeError, KeyError)
_REASON_MAX = 200


class UnreadableUpdates(TelegramError):
    """A getUpdates answer without one usable update id: it cannot be skipped, only retried.

    A `TelegramError`, so PTB's polling loop backs off before it asks again (1 s, growing by
    half each time up to 30 s) instead of asking again at once.
    """


def read_update(data: object, bot: ExtBot[Any]) -> Update | None:
    """Parse one update; one PTB cannot read becomes a bare `Update`. None without an id."""
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(update_id, int) or isinstance(update_id, bool):
        log.warning("telegram: got an update without an update_id (%s)", describe(data))
        return None
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # whatever the library trips on, the other updates must go on
        reason = str(exc)[:_REASON_MAX] if isinstance(exc, _SCHEMA_ERRORS) else ""
        log.warning(
            "telegram: could not read update %d (%s), skipped it: %s %s",
            update_id,
            describe(data),
            type(exc).__name__,
            reason,
        )
        return Update(update_id=update_id)


def read_batch(result: object, bot: ExtBot[Any]) -> tuple[Update, ...]:
    """Parse a getUpdates result item by item; raise `UnreadableUpdates` if nothing has an id."""
    if not isinstance(result, list):
        raise UnreadableUpdates(f"getUpdates answered a {type(result).__name__}, not a list")
    updates = tuple(u for u in (read_update(item, bot) for item in result) if u is not None)
    if result and not updates:
        raise UnreadableUpdates(f"none of the {len(result)} updates received has an update_id")
    return updates


def describe(data: object) -> str:
    """An update's type, field names and ids: enough to find it, nothing a user wrote."""
    if not isinstance(data, dict):
        return type(data).__name__
    described = []
    for kind, inner in data.items():
        if kind == "update_id":
            continue
        if not isinstance(inner, dict):
            described.append(kind)
            continue
        chat = inner.get("chat")
        ids = {
            "chat": chat.get("id") if isinstance(chat, dict) else None,
            "message": inner.get("message_id"),
        }
        shown = ", ".join(f"{k} {v}" for k, v in ids.items() if isinstance(v, int))
        fields = ",".join(sorted(str(key) for key in inner))
        described.append(f"{kind} [{fields}]" + (f" {shown}" if shown else ""))
    return "; ".join(described) or "empty"


class TolerantBot(ExtBot[None]):
    """PTB's bot, except that `get_updates` reads each update on its own (see the module).

    It also remembers whether the last getUpdates failed (`polling_failed`): PTB's polling
    loop retries network errors quietly, so this is how the adapter knows it is cut off.
    """

    __slots__ = ("_polling_failed", "_updates_request")

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        base_file_url: str,
        request: BaseRequest,
        get_updates_request: BaseRequest,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            base_file_url=base_file_url,
            request=request,
            get_updates_request=get_updates_request,
        )
        self._updates_request = get_updates_request
        self._polling_failed = False  # PTB freezes its objects: only _names may change

    @property
    def polling_failed(self) -> bool:
        """Whether the last getUpdates failed (the network, Telegram, a 409 Conflict)."""
        return self._polling_failed

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: TimePeriod | None = None,  # noqa: ASYNC109 - the Bot API parameter PTB overrides
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        """Long-poll like `Bot.get_updates`, parsing each update on its own."""
        data: JSONDict = {
            "timeout": timeout,
            "offset": offset,
            "limit": limit,
            "allowed_updates": allowed_updates,
        }
        # As in Bot.get_updates: a long poll may last `timeout` longer than any other read.
        base = (
            self._updates_request.read_timeout
            if isinstance(read_timeout, DefaultValue)
            else read_timeout
        )
        poll_s = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else timeout or 0
        try:
            result = await self._post(
                "getUpdates",
                data,
                read_timeout=(base or 0) + poll_s,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
                api_kwargs=api_kwargs,
            )
        except Exception:
            self._polling_failed = True
            raise
        self._polling_failed = False
        updates = read_batch(result, self)
        for update in updates:
            self.insert_callback_data(update)
        return updates

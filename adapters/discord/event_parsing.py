"""Keep discord.py's gateway event parsers from taking the connection down.

discord.py parses each DISPATCH inline in `DiscordWebSocket.received_message`; a payload it
cannot read (a field a newer Discord left out, an odd value) raises out of `Client.connect`
and ends the client. Each parser is wrapped so such an event is logged once, by type and ids
(never content), and skipped, while everything after it is served as usual.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Parser = Callable[[Any], None]
# Without READY the session has no user, guilds or application: better to fail and reconnect.
VITAL_EVENTS = frozenset({"READY"})
_ID_KEYS = ("id", "guild_id", "channel_id", "message_id", "application_id")


def skip_unparsable(parsers: MutableMapping[str, Parser]) -> None:
    """Wrap every parser but the vital ones so a payload it cannot read is logged and skipped."""
    for event, parse in list(parsers.items()):
        if event not in VITAL_EVENTS:
            parsers[event] = _tolerant(event, parse)


def _tolerant(event: str, parse: Parser) -> Parser:
    @functools.wraps(parse)
    def parse_or_skip(data: Any) -> None:
        try:
            parse(data)
        except Exception as exc:
            log.warning(
                "skipped a gateway event discord.py could not parse: %s (%s; %s)",
                event,
                _reason(exc),
                event_ids(data) or "no ids",
            )

    return parse_or_skip


def _reason(exc: Exception) -> str:
    # A KeyError names the missing field (library code, not user content); other messages may
    # quote the payload, so only the type is logged.
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return f"missing field {exc.args[0]!r}"
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def event_ids(data: Any) -> str:
    """The snowflakes that identify an event (its own, guild, channel, user), nothing else."""
    if not isinstance(data, dict):
        return ""
    found = [(key, data.get(key)) for key in _ID_KEYS]
    for holder in ("user", "author", "member"):
        value = data.get(holder)
        if isinstance(value, dict):
            user = value.get("user") if holder == "member" else value
            if isinstance(user, dict):
                found.append(("user_id", user.get("id")))
                break
    return ", ".join(
        f"{key}={value}" for key, value in found if value is not None and str(value).isdigit()
    )

"""The actions every bananabot offers: Retry, Original, Stop, and confirming /forget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import messages
from bot.actions import (
    Action,
    Audience,
    PressContext,
    Style,
    offer_original,
    offer_retry,
    turn_of,
)

if TYPE_CHECKING:
    from bot.engine import Engine


async def _retry(engine: Engine, press: PressContext, arg: str) -> None:
    """Answer the result's instruction again (a sibling result), or retry a failed step."""
    turn_id = turn_of(arg)
    if turn_id is None:
        await press.reply.notify(messages.text("unknown_result", press.locale))
        return
    await press.reply.acknowledge()
    await engine.retry(press.chat, press.author, turn_id, await press.reply.outbox())


async def _original(engine: Engine, press: PressContext, arg: str) -> None:
    """Send the stored, lossless images of a result."""
    turn_id = turn_of(arg)
    images = await engine.original(press.chat, turn_id) if turn_id is not None else ()
    if not images:
        await press.reply.notify(messages.text("unknown_result", press.locale))
        return
    await press.reply.acknowledge()
    caption = messages.text("original_caption", press.locale)
    await press.reply.send_files(images, caption, f"bananabot-{turn_id}")


async def _stop(engine: Engine, press: PressContext, arg: str) -> None:
    """Stop a running step (its asker or an admin); the step answers "Stopped." itself."""
    turn_id = turn_of(arg)
    refusal = (
        await engine.stop(press.chat, press.author, turn_id, press.reply.presser_is_chat_admin)
        if turn_id is not None
        else "unknown_result"
    )
    if refusal is not None:
        await press.reply.notify(messages.text(refusal, press.locale))
    else:
        await press.reply.acknowledge()


async def _forget(engine: Engine, press: PressContext, arg: str) -> None:
    """Delete the presser's data (the payload names them: only they may confirm)."""
    await press.reply.acknowledge()
    count = await engine.forget(press.chat, press.author)
    await press.reply.replace(messages.text("forget_done", press.locale, count=count))


RETRY = Action(
    "retry",
    "r",
    "retry_button",
    _retry,
    emoji="\N{CLOCKWISE RIGHTWARDS AND LEFTWARDS OPEN CIRCLE ARROWS}",
    offer=offer_retry,
)
ORIGINAL = Action(
    "original",
    "o",
    "original_button",
    _original,
    emoji="\N{FRAME WITH PICTURE}",
    offer=offer_original,
)
FORGET = Action("forget", "f", "forget_button", _forget, Audience.OWNER, Style.DANGER)
# Only on a running step's status message (the core builds it there), never on an outcome.
STOP = Action(
    "stop", "s", "stop_button", _stop, style=Style.DANGER, emoji="\N{BLACK SQUARE FOR STOP}"
)

STANDARD_ACTIONS = (RETRY, ORIGINAL, FORGET, STOP)

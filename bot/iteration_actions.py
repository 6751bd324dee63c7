"""The one-tap next steps under every image result: Variations, Zoom out, Reframe, Upscale,
and Info (how it was made, what it cost).

Each press makes an ordinary turn in the result's lineage (see `bot.iteration`), answered as a
reply under the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot import messages
from bot.actions import (
    Action,
    Handler,
    Offer,
    PressContext,
    offer_images,
    offer_original,
    turn_of,
)
from bot.capabilities import capabilities_for
from bot.config import MAX_VARIATIONS, Settings
from bot.iteration import Builder, larger_size, reframer, upscaler, zoom_out
from bot.model import GenerationSettings
from bot.outcome import Outcome, Success

if TYPE_CHECKING:
    from bot.delivery import Outbox
    from bot.engine import Engine


def _on_result(run: Callable[[Engine, PressContext, int], Awaitable[None]]) -> Handler:
    """A handler that runs `run` for the pressed result's turn id, or says it is unknown."""

    async def handler(engine: Engine, press: PressContext, arg: str) -> None:
        turn_id = turn_of(arg)
        if turn_id is None:
            await press.reply.notify(messages.text("unknown_result", press.locale))
            return
        await run(engine, press, turn_id)

    return handler


def _runs(build: Builder) -> Handler:
    """A handler that answers the pressed result with the follow-up `build` makes."""

    async def run(engine: Engine, press: PressContext, turn_id: int) -> None:
        await press.reply.acknowledge()
        outbox = await press.reply.outbox()
        await engine.follow_up(press.chat, press.author, turn_id, build, outbox)

    return _on_result(run)


async def _reframe(engine: Engine, press: PressContext, arg: str) -> None:
    """`<turn>`: offer the model's aspect ratios; `<turn>-<w>x<h>`: reframe to that one."""
    turn, _, ratio = arg.partition("-")
    turn_id = turn_of(turn)
    if turn_id is None:
        await press.reply.notify(messages.text("unknown_result", press.locale))
        return
    if not ratio:
        choices = await engine.settings_service.choices(press.chat)
        options = [
            dataclasses.replace(
                engine.actions.button(REFRAME, f"{turn}-{r.replace(':', 'x')}", press.locale),
                label=r,
                emoji=None,
            )
            for r in choices["aspect_ratio"]
        ]
        await press.reply.choose(messages.text("reframe_prompt", press.locale), options)
        return
    await press.reply.acknowledge()
    outbox = await press.reply.outbox()
    build = reframer(ratio.replace("x", ":"))
    await engine.follow_up(press.chat, press.author, turn_id, build, outbox)


async def _info(engine: Engine, press: PressContext, turn_id: int) -> None:
    """Tell the presser how the result was made and what it cost."""
    text = await engine.info(press.chat, turn_id, press.locale)
    if text is None:
        await press.reply.notify(messages.text("unknown_result", press.locale))
        return
    await press.reply.acknowledge()  # answered first, the details go to the chat (Telegram)
    await press.reply.notify(text)


def _posting(post: Callable[[Engine, PressContext, int, Outbox], Awaitable[bool]]) -> Handler:
    """A handler that posts something about the pressed result under it (no model call), or
    says the result is unknown."""

    async def run(engine: Engine, press: PressContext, turn_id: int) -> None:
        await press.reply.acknowledge()
        if not await post(engine, press, turn_id, await press.reply.outbox()):
            await press.reply.notify(messages.text("unknown_result", press.locale))

    return _on_result(run)


# Use N: the chosen variation on its own (one picture, every action; replies continue it).
_use = _posting(
    lambda engine, press, turn_id, outbox: engine.show_result(
        press.chat, turn_id, outbox, press.locale
    )
)
# Whole image: a region edit's unblended answer, as a sibling result.
_whole_image = _posting(
    lambda engine, press, turn_id, outbox: engine.whole_image(
        press.chat, press.author, turn_id, outbox, press.locale
    )
)


def _offer_use(index: int) -> Offer:
    def offer(outcome: Outcome) -> str | None:
        """Variations with an image number `index + 1`: that variant's model turn."""
        if isinstance(outcome, Success) and len(outcome.variants) > index:
            return str(outcome.variants[index])
        return None

    return offer


# Use 1 ... Use 4 under Variations: one message may show them all (Discord), where a reply
# cannot say which picture it means; the one picked becomes a result of its own.
USE_VARIANT = tuple(
    Action(f"use_{n}", f"p{n}", f"use_{n}_button", _use, offer=_offer_use(n - 1))
    for n in range(1, MAX_VARIATIONS + 1)
)


def _offer_whole_image(outcome: Outcome) -> str | None:
    """Region edits: the model's own picture, unblended."""
    if isinstance(outcome, Success) and outcome.region and not outcome.variants:
        return str(outcome.model_turn_id)
    return None


async def _variations(engine: Engine, press: PressContext, turn_id: int) -> None:
    """Several new answers to the result's instruction, posted together."""
    await press.reply.acknowledge()
    await engine.variations(press.chat, press.author, turn_id, await press.reply.outbox())


def _offer_upscale(settings: Settings) -> Offer:
    upscale_model = settings.iteration.upscale_model
    upscale_size = settings.iteration.upscale_size

    def offer(outcome: Outcome) -> str | None:
        """Results with a picture, when a larger size than theirs is to be had."""
        if offer_original(outcome) is None or not isinstance(outcome, Success):
            return None
        asked = GenerationSettings(outcome.model, image_size=outcome.image_size)
        if larger_size(asked, capabilities_for(outcome.model)) is not None or (
            upscale_model and upscale_size in capabilities_for(upscale_model).image_sizes
        ):
            return str(outcome.model_turn_id)
        return None

    return offer


REFRAME = Action(
    "reframe", "rf", "reframe_button", _reframe, emoji="\N{LEFT RIGHT ARROW}", offer=offer_original
)


def iteration_actions(settings: Settings) -> tuple[Action, ...]:
    """Variations (and Use 1 ... 4 under them), Zoom out, Reframe, Upscale and Info, as this
    configuration offers them."""
    upscale = upscaler(settings.iteration.upscale_model, settings.iteration.upscale_size)
    return (
        Action(
            "variations",
            "v",
            "variations_button",
            _on_result(_variations),
            emoji="\N{GAME DIE}",
            offer=offer_images,
        ),
        Action(
            "zoom_out",
            "z",
            "zoom_out_button",
            _runs(zoom_out),
            emoji="\N{LEFT-POINTING MAGNIFYING GLASS}",
            offer=offer_original,
        ),
        REFRAME,
        Action(
            "upscale",
            "u",
            "upscale_button",
            _runs(upscale),
            emoji="\N{UPWARDS BLACK ARROW}",
            offer=_offer_upscale(settings),
        ),
        Action(
            "info",
            "i",
            "info_button",
            _on_result(_info),
            emoji="\N{INFORMATION SOURCE}",
            offer=offer_original,
        ),
        *USE_VARIANT,
        Action(
            "whole_image",
            "w",
            "whole_image_button",
            _whole_image,
            emoji="\N{FRAME WITH PICTURE}",
            offer=_offer_whole_image,
        ),
    )

"""The one-tap next steps under every image result: Zoom out and Upscale.

Each press makes an ordinary turn in the result's lineage (see `bot.iteration`), answered as a
reply under the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import messages
from bot.actions import Action, Handler, Offer, PressContext
from bot.capabilities import capabilities_for
from bot.config import Settings
from bot.iteration import Builder, larger_size, upscaler, zoom_out
from bot.model import GenerationSettings
from bot.outcome import Outcome, Success

if TYPE_CHECKING:
    from bot.engine import Engine


def _runs(build: Builder) -> Handler:
    """A handler that answers the pressed result with the follow-up `build` makes."""

    async def handler(engine: Engine, press: PressContext, arg: str) -> None:
        if not arg.isdigit():
            await press.reply.notify(messages.text("unknown_result", press.locale))
            return
        await press.reply.acknowledge()
        outbox = await press.reply.outbox()
        await engine.follow_up(press.chat, press.author, int(arg), build, outbox)

    return handler


def _offer_images(outcome: Outcome) -> str | None:
    """Results with a picture."""
    if isinstance(outcome, Success) and outcome.images:
        return str(outcome.model_turn_id)
    return None


def _offer_upscale(settings: Settings) -> Offer:
    upscale_model = settings.iteration.upscale_model
    upscale_size = settings.iteration.upscale_size

    def offer(outcome: Outcome) -> str | None:
        """Results with a picture, when a larger size than theirs is to be had."""
        if not isinstance(outcome, Success) or not outcome.images or not outcome.model:
            return None
        asked = GenerationSettings(outcome.model, image_size=outcome.image_size)
        if larger_size(asked, capabilities_for(outcome.model)) is not None or (
            upscale_model and upscale_size in capabilities_for(upscale_model).image_sizes
        ):
            return str(outcome.model_turn_id)
        return None

    return offer


def iteration_actions(settings: Settings) -> tuple[Action, ...]:
    """Zoom out and Upscale, as this configuration offers them."""
    upscale = upscaler(settings.iteration.upscale_model, settings.iteration.upscale_size)
    return (
        Action(
            "zoom_out",
            "z",
            "zoom_out_button",
            _runs(zoom_out),
            emoji="\N{LEFT-POINTING MAGNIFYING GLASS}",
            offer=_offer_images,
        ),
        Action(
            "upscale",
            "u",
            "upscale_button",
            _runs(upscale),
            emoji="\N{UPWARDS BLACK ARROW}",
            offer=_offer_upscale(settings),
        ),
    )

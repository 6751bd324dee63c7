"""What each Gemini image model accepts: input image count, output sizes, aspect ratios.

Model ids change often; unknown ids get the conservative defaults and config may override the
input-image limit (`gemini.max_input_images`).

Prices are US dollars per output image on the paid tier, from Google's output-token counts per
size (docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-1-flash-image and
.../3-pro-image) times the per-million-token price of ai.google.dev/gemini-api/docs/pricing,
as transcribed 2026-09/10; check that page before budgeting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from bot.config import ModelPrice

BASE_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
EXTRA_RATIOS = ("1:4", "4:1", "1:8", "8:1")


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """Limits of one model id."""

    max_input_images: int
    image_sizes: tuple[str, ...]  # empty: the model takes no image_size
    aspect_ratios: tuple[str, ...]
    # Gemini 3 models return thought signatures that must be replayed byte-identical.
    thinking: bool
    # Takes the Google Search tool (grounding in web results).
    search: bool = False
    # (size, USD per output image); the first entry is the price when no size is asked for.
    prices: tuple[tuple[str, float], ...] = ()
    input_usd_per_million: float = 0.0  # text and image input tokens
    max_inline_image_bytes: int = 7 * 1024 * 1024

    def price(self, size: str | None) -> float | None:
        """USD per output image at `size` (None: the model's default size), if known."""
        table = dict(self.prices)
        if size is None:
            return self.prices[0][1] if self.prices else None
        return table.get(size)

    def estimated_cost(self, prompt_tokens: int, images: int, size: str | None) -> float:
        """USD for one answer: its input tokens, and its images at `size`."""
        return prompt_tokens * self.input_usd_per_million / 1e6 + images * (self.price(size) or 0)


_DEFAULT = ModelCapabilities(3, (), BASE_RATIOS, thinking=False)

# Longest prefix wins, so "gemini-3.1-flash-image" is matched before "gemini-3".
_TABLE: dict[str, ModelCapabilities] = {
    "gemini-2.5-flash-image": ModelCapabilities(
        3, (), BASE_RATIOS, thinking=False, prices=(("1K", 0.039),), input_usd_per_million=0.3
    ),
    "gemini-3-pro-image": ModelCapabilities(
        14,
        ("1K", "2K", "4K"),
        BASE_RATIOS,
        thinking=True,
        search=True,
        prices=(("1K", 0.134), ("2K", 0.134), ("4K", 0.24)),
        input_usd_per_million=2.0,
    ),
    "gemini-3.1-flash-image": ModelCapabilities(
        14,
        ("512", "1K", "2K", "4K"),
        BASE_RATIOS + EXTRA_RATIOS,
        thinking=True,
        search=True,
        prices=(("1K", 0.067), ("512", 0.045), ("2K", 0.101), ("4K", 0.151)),
        input_usd_per_million=0.5,
    ),
    "gemini-3.1-flash-lite-image": ModelCapabilities(14, (), BASE_RATIOS, thinking=True),
    "gemini-nano-banana-2": ModelCapabilities(14, ("1K", "2K", "4K"), BASE_RATIOS, thinking=True),
}


def with_prices(
    caps: ModelCapabilities, model: str, overrides: Mapping[str, ModelPrice]
) -> ModelCapabilities:
    """`caps` with the configured prices of `model` (longest matching prefix), if any."""
    matches = [key for key in overrides if model.startswith(key)]
    if not matches:
        return caps
    price = overrides[max(matches, key=len)]
    changed = dict(caps.prices) | dict(price.image)
    first = [(size, changed.pop(size)) for size, _ in caps.prices[:1] if size in changed]
    return replace(
        caps,
        prices=(*first, *changed.items()),
        input_usd_per_million=caps.input_usd_per_million
        if price.input_per_million is None
        else price.input_per_million,
    )


def bare_model_id(model: str) -> str:
    """`model` without the API's `models/` prefix: the id config, the table and lists share."""
    return model.removeprefix("models/")


def capabilities_for(model: str, *, max_input_images: int | None = None) -> ModelCapabilities:
    """Look up `model` (a bare id or `models/<id>`), applying the config override."""
    name = bare_model_id(model)
    matches = [key for key in _TABLE if name.startswith(key)]
    caps = _TABLE[max(matches, key=len)] if matches else _DEFAULT
    if max_input_images is not None:
        caps = replace(caps, max_input_images=max_input_images)
    return caps

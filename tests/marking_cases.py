"""Generated originals and marked-up copies for the region-edit tests (and docs/region_example.py).

An original is photo-like: a colour gradient, soft muted blobs and blurred grain (real photos
have structure everywhere, which is what makes re-encoding noise; their colours are mostly far
less saturated than a brush's). A marked copy has strokes drawn
over it as a phone's brush would, then goes through what a platform does: downscaled to 1280 px
and saved as JPEG quality 80. The intended region is drawn alongside at the original's size.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

COLOURS = {
    "red": (235, 30, 30),
    "green": (30, 220, 60),
    "blue": (30, 60, 235),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
PLATFORM_SIDE = 1280
PLATFORM_QUALITY = 80


def photo_like(size: tuple[int, int], seed: int) -> Image.Image:
    """A deterministic picture with structure everywhere."""
    rng = random.Random(seed)
    width, height = size
    ramp = Image.linear_gradient("L").resize(size)
    base = Image.merge(
        "RGB",
        (
            ramp,
            ramp.transpose(Image.Transpose.ROTATE_90).resize(size),
            ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(min(size) // 20, min(size) // 5)
        grey = rng.randrange(70, 180)  # muted, as most of a photo is: marks stand out
        colour = tuple(grey + rng.randrange(-35, 36) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)  # type: ignore[arg-type]
    base = base.filter(ImageFilter.GaussianBlur(6))
    small = (max(1, width // 4), max(1, height // 4))
    grain = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3))
    grain = grain.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1.2))
    return Image.blend(base, grain, 0.18)


def encoded(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def as_platform_sends(image: Image.Image) -> bytes:
    """Downscaled to 1280 px and JPEG q80, as Telegram does to a photo."""
    copy = image.copy()
    copy.thumbnail((PLATFORM_SIDE, PLATFORM_SIDE), Image.Resampling.LANCZOS)
    return encoded(copy, "JPEG", quality=PLATFORM_QUALITY)


@dataclass(frozen=True, slots=True)
class Marked:
    """A marked copy as the platform delivers it, and the region the user meant."""

    kind: str
    colour: str
    width: int
    data: bytes
    intended: Image.Image  # mode L at the original's size: strokes and what they enclose


def mark(original: Image.Image, kind: str, colour: str, width: int, seed: int) -> Marked:
    """Draw one kind of mark ("circle", "scribble", "arrow") and say what it means."""
    rng = random.Random(seed)
    w, h = original.size
    copy = original.copy()
    intended = Image.new("L", original.size, 0)
    pen, meant = ImageDraw.Draw(copy), ImageDraw.Draw(intended)
    fill = COLOURS[colour]
    cx, cy = rng.randrange(w // 4, 3 * w // 4), rng.randrange(h // 4, 3 * h // 4)
    rx, ry = rng.randrange(w // 12, w // 6), rng.randrange(h // 12, h // 6)
    if kind == "circle":
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        pen.ellipse(box, outline=fill, width=width)
        meant.ellipse(box, fill=255)
    elif kind == "scribble":
        points = [
            (cx - rx + 2 * rx * i / 7, cy + (ry if i % 2 else -ry) * rng.uniform(0.3, 1.0))
            for i in range(8)
        ]
        pen.line(points, fill=fill, width=width, joint="curve")
        meant.line(points, fill=255, width=width, joint="curve")
    elif kind == "arrow":
        angle = rng.uniform(0, 2 * math.pi)
        tip = (cx, cy)
        tail = (cx + rx * 1.5 * math.cos(angle), cy + ry * 1.5 * math.sin(angle))
        head = [
            (
                cx + rx * 0.35 * math.cos(angle + da),
                cy + ry * 0.35 * math.sin(angle + da),
            )
            for da in (-0.5, 0.5)
        ]
        for drawing, colour_of in ((pen, fill), (meant, 255)):
            drawing.line([tail, tip], fill=colour_of, width=width)  # type: ignore[arg-type]
            for end in head:
                drawing.line([tip, end], fill=colour_of, width=width)  # type: ignore[arg-type]
    else:
        raise ValueError(kind)
    return Marked(kind, colour, width, as_platform_sends(copy), intended)

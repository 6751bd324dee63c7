"""Shrink a result that is over a platform's limit into a JPEG preview (CPU-bound: use a thread).

Shared by the adapters: Telegram's sendPhoto and Discord's upload limit need the same thing.
"""

from __future__ import annotations

import io

from PIL import Image

QUALITIES = (88, 75, 60)  # a few steps: each encode of a 4K image costs ~0.1 s
SCALE_STEP = 0.7
MIN_SIDE = 128  # below this a preview is useless; give up instead


def jpeg_preview(data: bytes, limit: int, *, max_side: int | None = None) -> bytes | None:
    """Encode `data` as a JPEG of at most `limit` bytes (and `max_side` px), lowering quality,
    then size; None when even a small preview cannot fit."""
    with Image.open(io.BytesIO(data)) as opened:
        if max_side is not None:
            opened.draft("RGB", (max_side, max_side))  # JPEG sources decode smaller for free
        opened.load()
        image = flatten(opened)
    if max_side is not None:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    while True:
        for quality in QUALITIES:
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=quality, optimize=True)
            if buf.tell() <= limit:
                return buf.getvalue()
        width, height = image.size
        if min(width, height) * SCALE_STEP < MIN_SIDE:
            return None
        size = (max(1, round(width * SCALE_STEP)), max(1, round(height * SCALE_STEP)))
        image = image.resize(size, Image.Resampling.LANCZOS)


def flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no alpha, and black behind transparency looks broken."""
    # "transparency" is a tRNS colour key (1, L, RGB) or palette alpha (P); convert("RGB")
    # would paint those pixels in the key colour.
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")

"""Realistic, deterministic test images, generated once and cached on disk.

Telegram serves a photo's largest size as a 1280 px JPEG of a few hundred KB; Gemini returns a
1024x1024 PNG of about 1.5 MB, and a thinking model's thought images are taken as the same
(other pixels: a draft that looks like the one before is not shown again). All are photo-like
(gradient plus blurred noise), so they cost what real pictures cost to decode, hash, base64 and
upload. Variants differ by a comment only: every step then stores distinct files (real users
send distinct photos) at identical cost.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFilter

VERSION = 1


@dataclass(frozen=True, slots=True)
class PayloadSpec:
    """Sizes for one mode (full or --quick)."""

    photo: tuple[int, int]
    result: tuple[int, int]
    big_jpeg: tuple[int, int]
    big_png: int  # side of a square noise PNG


FULL = PayloadSpec(photo=(1280, 960), result=(1024, 1024), big_jpeg=(6000, 4500), big_png=2550)
QUICK = PayloadSpec(photo=(320, 240), result=(256, 256), big_jpeg=(1500, 1100), big_png=640)


@dataclass(frozen=True, slots=True)
class Payloads:
    """Paths of the generated images."""

    photo: Path  # what a user sends (JPEG)
    result: Path  # what the model answers (PNG)
    big_jpeg: Path  # ~20 MB photo sent as a file
    big_png: Path  # ~20 MB PNG sent as a file
    draft1: Path  # a thinking model's thought images: like the result, other pixels
    draft2: Path

    def as_dict(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in self.__slots__}


def _photo_like(size: tuple[int, int], seed: int, blur: float, noise: float) -> Image.Image:
    """A gradient overlaid with (optionally blurred) RGB noise."""
    width, height = size
    rng = random.Random(seed)
    grain = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    if blur:
        grain = grain.filter(ImageFilter.GaussianBlur(blur))
    ramp = Image.linear_gradient("L").resize(size)
    base = Image.merge(
        "RGB",
        (
            ramp,
            ramp.transpose(Image.Transpose.ROTATE_90).resize(size),
            ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )
    return Image.blend(base, grain, noise)


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def ensure_payloads(cache: Path, quick: bool) -> Payloads:
    """Generate the images into `cache` unless they are there already."""
    spec = QUICK if quick else FULL
    folder = cache / f"v{VERSION}-{'quick' if quick else 'full'}"
    folder.mkdir(parents=True, exist_ok=True)
    payloads = Payloads(
        photo=folder / "photo.jpg",
        result=folder / "result.png",
        big_jpeg=folder / "big.jpg",
        big_png=folder / "big.png",
        draft1=folder / "draft1.png",
        draft2=folder / "draft2.png",
    )
    makers: dict[Path, Callable[[], bytes]] = {
        payloads.photo: lambda: _encode(
            _photo_like(spec.photo, 1, blur=0.8, noise=0.5), "JPEG", quality=90
        ),
        payloads.result: lambda: _encode(_photo_like(spec.result, 2, blur=1.1, noise=0.45), "PNG"),
        payloads.draft1: lambda: _encode(_photo_like(spec.result, 5, blur=1.1, noise=0.45), "PNG"),
        payloads.draft2: lambda: _encode(_photo_like(spec.result, 6, blur=1.1, noise=0.45), "PNG"),
        payloads.big_jpeg: lambda: _encode(
            _photo_like(spec.big_jpeg, 3, blur=0, noise=0.5), "JPEG", quality=92
        ),
        payloads.big_png: lambda: _encode(
            Image.frombytes(
                "RGB",
                (spec.big_png, spec.big_png),
                random.Random(4).randbytes(spec.big_png * spec.big_png * 3),
            ),
            "PNG",
            compress_level=1,
        ),
    }
    for path, make in makers.items():
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(make())
            tmp.replace(path)
    return payloads


def jpeg_variant(data: bytes, number: int) -> bytes:
    """The same JPEG with a COM segment right after SOI: other bytes, identical pixels."""
    comment = f"bench-variant {number:010d}".encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def png_text_chunk(number: int) -> bytes:
    """A tEXt chunk that makes a PNG distinct without touching its pixels."""
    body = b"Comment\x00" + f"bench-variant {number:010d}".encode()
    return (
        struct.pack(">I", len(body))
        + b"tEXt"
        + body
        + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    )


def png_variant(data: bytes, number: int) -> bytes:
    """The same PNG with a text chunk before IEND."""
    return data[:-12] + png_text_chunk(number) + data[-12:]

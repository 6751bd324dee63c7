"""Build good, odd and hostile image files in memory, fast, for tests.

Every function returns fresh-looking `bytes` (cached where building costs more than a few ms;
bytes are immutable, so sharing is safe). Colours the tests look for are module constants.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from collections.abc import Callable

from PIL import Image, ImageDraw

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Maker = Callable[[], bytes]  # what the tests parametrize over


def photo(width: int, height: int, *, noise: float = 0.15, seed: int = 1) -> Image.Image:
    """Return a photo-like RGB image: smooth gradients plus noise, so JPEG sizes are realistic."""
    # Above 1500 px, draw small and upscale: noise for 24 Mpx costs ~1 s to generate.
    upscale = max(1, -(-max(width, height) // 1500))
    w, h = -(-width // upscale), -(-height // upscale)
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((w, h)),
            Image.radial_gradient("L").resize((w, h)),
            Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize((w, h)),
        ),
    )
    grain = Image.frombytes("RGB", (w, h), random.Random(seed).randbytes(w * h * 3))
    image = Image.blend(base, grain, noise)
    if upscale > 1:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode `image` with Pillow."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@functools.cache
def normal_jpeg() -> bytes:
    """Return a 1280x960 photo JPEG of about 400 KB, acceptable as is."""
    return encode(photo(1280, 960), "JPEG", quality=90)


def small_png() -> bytes:
    """Return a 64x48 RGB PNG."""
    return encode(photo(64, 48), "PNG")


def png_with_alpha() -> bytes:
    """Return a 64x64 RGBA PNG whose left half is fully transparent."""
    image = Image.new("RGBA", (64, 64), (*RED, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 31, 63), fill=(0, 0, 0, 0))
    return encode(image, "PNG")


def opaque_rgba_png(width: int = 3200, height: int = 1600) -> bytes:
    """Return an RGBA PNG whose alpha is 255 everywhere (transparency declared, never used)."""
    return encode(Image.new("RGBA", (width, height), (*BLUE, 255)), "PNG")


def truncated_jpeg() -> bytes:
    """Return the normal JPEG cut off in the middle of its scan data."""
    data = normal_jpeg()
    return data[: len(data) * 6 // 10]


def png_with_bad_crc() -> bytes:
    """Return a small PNG whose IDAT checksum is wrong (pixels still inflate fine)."""
    data = bytearray(small_png())
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # first byte of the CRC after the chunk data
    return bytes(data)


def empty() -> bytes:
    """Return zero bytes."""
    return b""


def html_named_png() -> bytes:
    """Return an HTML error page, as a proxy may serve it under a .png name."""
    return b"<!DOCTYPE html>\n<html><head><title>404</title></head><body>Not found</body></html>\n"


def svg() -> bytes:
    """Return a small SVG document."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<circle cx="50" cy="50" r="40" fill="red"/></svg>\n'
    )


def pdf() -> bytes:
    """Return the start of a PDF file."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


def ico() -> bytes:
    """Return a Windows icon."""
    return encode(Image.new("RGBA", (32, 32), (*RED, 255)), "ICO")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_header_only(width: int, height: int) -> bytes:
    """Return a valid-looking gray PNG declaring width x height, with a few bytes of IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def strip_png(width: int = 20000, height: int = 1) -> bytes:
    """Return a real, tiny PNG strip like 20000x1."""
    return encode(Image.new("L", (width, height), 128), "PNG")


def animated_gif(colors: tuple[tuple[int, int, int], ...] = (RED, GREEN, BLUE)) -> bytes:
    """Return a 64x64 GIF with one solid frame per colour."""
    frames = [Image.new("RGB", (64, 64), color) for color in colors]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_webp(colors: tuple[tuple[int, int, int], ...] = (RED, GREEN, BLUE)) -> bytes:
    """Return a 64x64 lossless animated WebP with one solid frame per colour."""
    frames = [Image.new("RGB", (64, 64), color) for color in colors]
    return encode(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True
    )


def heic_encoder_available() -> bool:
    """Tell whether pillow-heif can encode HEIC here (it needs libheif with x265)."""
    try:
        import pillow_heif  # noqa: PLC0415 - optional at test time
    except ImportError:
        return False
    return bool(pillow_heif.libheif_info().get("HEIF"))


def heic(width: int = 320, height: int = 240) -> bytes:
    """Return a HEIC photo, without registering pillow-heif's Pillow plugin."""
    import pillow_heif  # noqa: PLC0415 - optional at test time

    buffer = io.BytesIO()
    pillow_heif.from_pillow(photo(width, height)).save(buffer, quality=80)
    return buffer.getvalue()


def cmyk_jpeg() -> bytes:
    """Return a 64x64 CMYK JPEG that shows pure red."""
    return encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)


def gray16_png(width: int = 256, height: int = 32) -> bytes:
    """Return a 16-bit gray PNG (mode I;16) ramping from 0 on the left to 65535 on the right."""
    row = b"".join(struct.pack("<H", x * 65535 // (width - 1)) for x in range(width))
    return encode(Image.frombytes("I;16", (width, height), row * height), "PNG")


def rgb16_png(width: int = 32, height: int = 16) -> bytes:
    """Return a 16-bit-per-channel RGB PNG (Pillow reads it as 8-bit RGB)."""
    pixel = struct.pack(">HHH", 65535, 0, 0)  # red
    scanlines = (b"\x00" + pixel * width) * height  # filter type 0 on every line
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(scanlines))
        + _png_chunk(b"IEND", b"")
    )


def palette_png_with_transparency() -> bytes:
    """Return a 64x64 palette PNG: left half transparent (index 0), right half red (index 1)."""
    image = Image.new("P", (64, 64), 1)
    image.putpalette([*WHITE, *RED])
    ImageDraw.Draw(image).rectangle((0, 0, 31, 63), fill=0)
    return encode(image, "PNG", transparency=0)


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """Return a 400x200 JPEG, red in its stored top-left corner, tagged with `orientation`."""
    image = Image.new("RGB", (400, 200), BLUE)
    ImageDraw.Draw(image).rectangle((0, 0, 59, 59), fill=RED)
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def jpeg_with_corrupt_exif() -> bytes:
    """Return a good 64x48 JPEG whose EXIF block is cut short (Pillow warns while reading it)."""
    exif = Image.Exif()
    exif[0x010F] = "Some Camera Maker Inc."  # Make: long enough to be stored by offset
    exif[0x0112] = 1  # Orientation
    return encode(photo(64, 48), "JPEG", exif=exif.tobytes()[:-10])


def bmp() -> bytes:
    """Return a 64x48 BMP."""
    return encode(photo(64, 48), "BMP")


def tiff() -> bytes:
    """Return a 64x48 LZW-compressed TIFF."""
    return encode(photo(64, 48), "TIFF", compression="tiff_lzw")


def avif() -> bytes:
    """Return a 64x48 AVIF (needs Pillow built with libavif)."""
    return encode(photo(64, 48), "AVIF")


def mutations(data: bytes, count: int, *, seed: int = 0) -> list[bytes]:
    """Return `count` damaged copies of `data`: truncations and a few random byte changes."""
    rng = random.Random(seed)
    damaged = []
    for i in range(count):
        if i % 2:
            damaged.append(data[: rng.randrange(1, len(data))])
            continue
        copy = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            copy[rng.randrange(len(copy))] = rng.randrange(256)
        damaged.append(bytes(copy))
    return damaged


@functools.cache
def huge_jpeg() -> bytes:
    """Return a 6000x4000 photo JPEG (24 Mpx, about 4 MB), above max_side."""
    return encode(photo(6000, 4000), "JPEG", quality=90)


@functools.cache
def jpeg_over_output_limit() -> bytes:
    """Return a 2800x2800 noise JPEG at quality 100: about 11 MB, above our 3 MB output limit."""
    return encode(photo(2800, 2800, noise=1.0), "JPEG", quality=100)


# Stored pixels for each EXIF orientation: the inverse of what a viewer does to show them upright
# (orientation 6 = "rotate 90 degrees clockwise to view", so the file holds the picture turned
# 90 degrees counter-clockwise, which is Pillow's ROTATE_90).
_STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
MARKER_SIZE = (96, 64)  # not square, so a transposed result shows in its size too


def upright_marker(mode: str = "RGB") -> Image.Image:
    """Return the picture a viewer should see: red block top-left, green top-right, blue rest.

    In mode "1" the picture is black with one white block top-left.
    """
    if mode == "1":
        image = Image.new("1", MARKER_SIZE, 0)
        ImageDraw.Draw(image).rectangle((0, 0, 31, 23), fill=1)
        return image
    image = Image.new("RGB", MARKER_SIZE, BLUE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 31, 23), fill=RED)
    draw.rectangle((64, 0, 95, 23), fill=GREEN)
    return image


def oriented(fmt: str, orientation: int, mode: str = "RGB") -> bytes:
    """Return `upright_marker(mode)` stored so that a viewer honouring `orientation` shows it."""
    stored = upright_marker(mode)
    if orientation in _STORED_FOR_ORIENTATION:
        stored = stored.transpose(_STORED_FOR_ORIENTATION[orientation])
    if fmt == "TIFF":
        compression = "group4" if mode == "1" else "tiff_lzw"
        return encode(stored, "TIFF", compression=compression, tiffinfo={0x0112: orientation})
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    params: dict[str, object] = {"exif": exif.tobytes()}
    if fmt in ("JPEG", "WEBP", "AVIF"):
        params["quality"] = 95
    return encode(stored, fmt, **params)


@functools.cache
def avif_encoder_available() -> bool:
    """Tell whether this Pillow can write AVIF (it needs libavif with an encoder)."""
    try:
        encode(Image.new("RGB", (8, 8)), "AVIF")
    except (KeyError, OSError, ValueError):
        return False
    return True


COLOUR_KEY_MODES = ("1", "L", "I;16", "RGB", "P")


def colour_key_png(mode: str, size: tuple[int, int] = (128, 96), *, orientation: int = 1) -> bytes:
    """Return a logo on transparent black: a PNG whose tRNS chunk makes black transparent.

    The logo (white, or red in RGB and P) fills the middle; everything else is the key colour,
    black (mid gray in 16-bit gray). With `orientation`, an eXIf chunk asks for that rotation;
    the logo is centred, so it stays in the middle either way.
    """
    width, height = size
    logo = (width // 4, height // 4, width * 3 // 4 - 1, height * 3 // 4 - 1)
    if mode == "P":
        image = Image.new("P", size, 0)
        image.putpalette([0, 0, 0, *RED])
        ImageDraw.Draw(image).rectangle(logo, fill=1)
        key: object = 0  # palette index 0 is black
    elif mode == "I;16":
        # 16-bit gray keys on a value above 255: only a 16-bit comparison finds it.
        image = Image.new("I;16", size, 40000)
        image.paste(65535, logo)
        key = 40000
    else:
        image = Image.new(mode, size, 0)
        ImageDraw.Draw(image).rectangle(logo, fill=RED if mode == "RGB" else 255)
        key = (0, 0, 0) if mode == "RGB" else 0
    params: dict[str, object] = {"transparency": key}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation  # Orientation
        params["exif"] = exif.tobytes()
    return encode(image, "PNG", **params)

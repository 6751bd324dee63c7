"""Validate and normalize user images for Gemini, off the event loop.

The flow: cheap checks on the bytes (empty, too large), a header-only probe (format, declared size,
mode, frames, EXIF orientation), then either pass the bytes through untouched or decode once and
re-encode. Nothing that fails the probe is ever decoded.

Accepted: JPEG (and MPO, a JPEG with extra pictures appended), PNG, WebP, GIF, BMP, TIFF, AVIF and
HEIC/HEIF (via pillow-heif, registered on first use). JPEG, PNG and WebP pass through when already
acceptable; everything else becomes JPEG, or PNG when real transparency is in use.

Refused as UNSUPPORTED_FORMAT (recognised by magic bytes, never handed to a decoder): SVG, PDF,
PostScript/EPS, PSD, ICO/CUR, ICNS, JPEG 2000 and JPEG XL. Pillow can read some of these, but
each is either a vector/document format or a rarely sent container whose decoders only widen the
attack surface. Anything else Pillow cannot identify is NOT_AN_IMAGE, or CORRUPT when its magic
bytes claim an accepted format.
"""

from __future__ import annotations

import asyncio
import enum
import io
import logging
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageFile, ImageMath, UnidentifiedImageError, features

from bot.errors import ImageRejected, RejectReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Size limits for one user image; Pillow's own bomb guard (~89 M pixels) applies on top."""

    max_bytes: int = 20 * 1024 * 1024  # refuse larger input files before decoding
    max_pixels: int = 40_000_000  # decompression-bomb cap on DECLARED width*height
    # Downscale the longest side above this: Gemini bills a fixed token count per input image
    # and gains nothing from more pixels, while 2x the side is 4x the bytes to serialize.
    max_side: int = 2048
    max_aspect_ratio: float = 20.0  # refuse strips like 20000x1
    # Re-encode above this (Gemini's own per-image limit is 7 MB): base64 of the request is
    # built on the event loop, so large inline images cost loop latency.
    max_output_bytes: int = 3 * 1024 * 1024

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.max_side, self.max_output_bytes) <= 0:
            raise ValueError("image limits must be positive")
        if self.max_aspect_ratio < 1:
            raise ValueError("max_aspect_ratio must be at least 1")


DEFAULT_LIMITS = ImageLimits()


class ImageNote(enum.StrEnum):
    """Something we did to an image that the user should hear about."""

    ANIMATED_FIRST_FRAME = "animated_first_frame"
    DOWNSCALED = "downscaled"
    CONVERTED = "converted"  # format or mode converted (HEIC, CMYK, 16-bit, palette, ...)
    ROTATED = "rotated"  # EXIF orientation applied


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image ready to send inline to the model."""

    data: bytes
    mime_type: str  # "image/jpeg" | "image/png" | "image/webp"
    width: int
    height: int
    notes: tuple[ImageNote, ...] = ()


# Formats handed to Pillow, most common first; HEIF is appended once pillow-heif is registered.
_DECODABLE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_PASS_THROUGH_MIME = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
# 8-bit modes every decoder reads; LA can only come from a PNG among the pass-through formats.
_PASS_THROUGH_MODES = frozenset({"L", "LA", "RGB", "RGBA"})
# Extra frames in these are auxiliary pictures (depth maps, thumbnails), not animation.
_STILL_MULTI_FRAME_FORMATS = frozenset({"MPO", "HEIF"})

_JPEG_QUALITIES = (90, 80, 70)
_JPEG_REDUCTION_STEPS = (8, 4, 2)  # what libjpeg can decode at 1/n scale (draft mode)
# Accept a JPEG draft decode down to this fraction of max_side: a 6000 px photo then decodes at
# 1/2 scale (3000 px) for a fraction of the cost instead of at full size to land on 3072 px.
_DRAFT_MIN_FRACTION = 0.9
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
_RGB_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "P", "PA"})

# EXIF orientation -> the transpose that makes the picture upright (same table as ImageOps).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_UNSUPPORTED_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"%!PS", "postscript"),
    (b"\xc5\xd0\xd3\xc6", "eps"),
    (b"8BPS", "psd"),
    (b"\x00\x00\x01\x00", "ico"),
    (b"\x00\x00\x02\x00", "cur"),
    (b"icns", "icns"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000"),
    (b"\xff\x4f\xff\x51", "jpeg2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jpeg-xl"),
    (b"\xff\x0a", "jpeg-xl"),
)

# Pillow and its codecs raise these on broken input; anything else is logged as unexpected.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    RuntimeError,  # libavif, libheif
    struct.error,
    zlib.error,
    IndexError,
)

# warnings.catch_warnings() swaps a process-wide filter list, so two threads inside it at once
# could restore each other's filters; only header parsing runs under it, so holding it is cheap.
_header_lock = threading.Lock()
_heif_lock = threading.Lock()


def sniff_mime(data: bytes) -> str | None:
    """Guess an image MIME type from magic bytes alone."""
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:2] == b"BM" and len(data) >= 18 and _u32le(data, 14) in _BMP_HEADER_SIZES:
        return "image/bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    brands = _ftyp_brands(data)
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if brands & _HEIF_BRANDS:
        return "image/heic"
    return None


def image_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) as stored in the header, without decoding pixels."""
    with _decode_errors(), _open(data) as im:
        return im.size


async def prepare_image(
    data: bytes, limits: ImageLimits = DEFAULT_LIMITS, *, verify: bool = True
) -> PreparedImage:
    """Same as prepare_image_sync, in a worker thread so the event loop never runs Pillow."""
    return await asyncio.to_thread(prepare_image_sync, data, limits, verify=verify)


def prepare_image_sync(
    data: bytes, limits: ImageLimits = DEFAULT_LIMITS, *, verify: bool = True
) -> PreparedImage:
    """Validate an uploaded image and return it ready for the model, untouched when possible.

    `verify=False` skips the full decode of a pass-through file, for bytes a platform itself
    produced and delivered whole (a Telegram photo); headers are still checked.
    """
    if not data:
        raise ImageRejected(RejectReason.EMPTY)
    if len(data) > limits.max_bytes:
        raise ImageRejected(RejectReason.TOO_LARGE, f"{len(data)} bytes > {limits.max_bytes}")
    with _decode_errors(), _open(data) as im:
        _check_declared_size(im.size, limits)
        fmt = im.format or ""
        with _header_parsing():
            animated = fmt not in _STILL_MULTI_FRAME_FORMATS and bool(
                getattr(im, "is_animated", False)
            )
            orientation = _orientation(im)
        if (
            fmt in _PASS_THROUGH_MIME
            and im.mode in _PASS_THROUGH_MODES
            and not animated
            and orientation == 1
            and max(im.size) <= limits.max_side
            and len(data) <= limits.max_output_bytes
            and not _is_16bit_png(data)
        ):
            if verify:
                _check_decodes(im, data)
            return PreparedImage(data, _PASS_THROUGH_MIME[fmt], im.width, im.height)
        return _normalize(im, data, animated=animated, orientation=orientation, limits=limits)


def _normalize(
    im: ImageFile.ImageFile,
    data: bytes,
    *,
    animated: bool,
    orientation: int,
    limits: ImageLimits,
) -> PreparedImage:
    """Decode the first frame, make it upright 8-bit RGB(A)/L within limits, and re-encode it."""
    notes: list[ImageNote] = []
    if animated:
        notes.append(ImageNote.ANIMATED_FIRST_FRAME)  # open() leaves us on frame 0
    source_mode = im.mode
    icc = im.info.get("icc_profile")
    downscale = max(im.size) > limits.max_side
    if downscale and im.format in ("JPEG", "MPO"):
        _draft_jpeg(im, limits.max_side)
    im.load()
    # Pillow's TIFF loader applies the tag itself while loading and then drops it; turning the
    # picture again would leave a 6 sideways and a 3 upside down. Checking the tag, not the
    # format, stays right whichever loaders of the installed Pillow do this.
    upright = _UPRIGHT.get(orientation) if ExifTags.Base.Orientation in im.getexif() else None

    frame = _to_8bit(im)
    if frame is not im:
        im.close()  # frees the decoded source before the next copy is made
    if frame.mode != source_mode or im.format not in _PASS_THROUGH_MIME or _is_16bit_png(data):
        notes.append(ImageNote.CONVERTED)
    if downscale:
        # thumbnail() resizes in place; after a draft decode it may already fit.
        frame.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
        notes.append(ImageNote.DOWNSCALED)
    # Rotating last is cheaper (smallest image) and gives the same pixels as rotating first.
    if upright is not None:
        frame = frame.transpose(upright)
    if orientation in _UPRIGHT:
        notes.append(ImageNote.ROTATED)  # by us or by the loader

    transparent = frame.mode in ("RGBA", "LA") and _alpha_in_use(frame)
    if frame.mode in ("RGBA", "LA") and not transparent:
        frame = frame.convert(frame.mode[:-1])
    if icc and _color_family(source_mode) != _color_family(frame.mode):
        icc = None  # a CMYK or gray profile would mislabel the converted pixels
    encoded, mime, frame, shrunk = _encode_within(frame, transparent, icc, limits.max_output_bytes)
    if shrunk and ImageNote.DOWNSCALED not in notes:
        notes.append(ImageNote.DOWNSCALED)
    return PreparedImage(encoded, mime, frame.width, frame.height, tuple(notes))


def _open(data: bytes) -> ImageFile.ImageFile:
    """Parse the header only, turning every refusal into an ImageRejected."""
    formats: tuple[str, ...] = _DECODABLE_FORMATS
    mime = sniff_mime(data)
    if mime == "image/heic":
        if not _register_heif_opener():
            raise ImageRejected(RejectReason.UNSUPPORTED_FORMAT, "heic (pillow-heif missing)")
        formats = (*formats, "HEIF")
    try:
        with _header_parsing():
            return Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError as exc:
        raise _unidentified(data, mime) from exc


@contextmanager
def _header_parsing() -> Iterator[None]:
    """Keep Pillow's header-time warnings from leaking (see _header_lock)."""
    with _header_lock, warnings.catch_warnings():
        # Corrupt-EXIF and similar metadata chatter: the pixels may be fine, and a broken
        # orientation tag just counts as upright.
        warnings.simplefilter("ignore", UserWarning)
        # Between 1x and 2x its pixel limit Pillow warns instead of raising: make it raise,
        # so it becomes TOO_MANY_PIXELS instead of a log line (or a test failure).
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _unidentified(data: bytes, mime: str | None) -> ImageRejected:
    """Explain why Pillow could not identify `data`."""
    if mime is None:
        head = data[:64]
        for magic, name in _UNSUPPORTED_MAGIC:
            if head.startswith(magic):
                return ImageRejected(RejectReason.UNSUPPORTED_FORMAT, name)
        if _looks_like_svg(data):
            return ImageRejected(RejectReason.UNSUPPORTED_FORMAT, "svg")
        return ImageRejected(RejectReason.NOT_AN_IMAGE)
    if mime == "image/avif" and not features.check_module("avif"):
        return ImageRejected(RejectReason.UNSUPPORTED_FORMAT, "avif (no decoder)")
    png = _png_header(data)
    if png is not None and 0 in png[:2]:
        return ImageRejected(RejectReason.BAD_DIMENSIONS, f"{png[0]}x{png[1]}")
    return ImageRejected(RejectReason.CORRUPT, f"unreadable {mime} header")


@contextmanager
def _decode_errors() -> Iterator[None]:
    """Map what Pillow raises on hostile or broken input to an ImageRejected."""
    try:
        yield
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(RejectReason.TOO_MANY_PIXELS, str(exc)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageRejected(RejectReason.CORRUPT, str(exc)) from exc
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        # Plugins raise odd types on hostile files (KeyError, TypeError, ...); log it in case
        # it is our bug, but the user still gets a clear answer.
        log.warning("unexpected error while decoding an image", exc_info=True)
        raise ImageRejected(RejectReason.CORRUPT, type(exc).__name__) from exc


def _check_declared_size(size: tuple[int, int], limits: ImageLimits) -> None:
    """Refuse bombs and degenerate shapes before any pixel is decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected(RejectReason.BAD_DIMENSIONS, f"{width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            RejectReason.TOO_MANY_PIXELS, f"{width}x{height} > {limits.max_pixels} pixels"
        )
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise ImageRejected(RejectReason.BAD_DIMENSIONS, f"{width}x{height}")


def _check_decodes(im: ImageFile.ImageFile, data: bytes) -> None:
    """Fully decode before passing bytes through: a truncated file must never reach the model."""
    if im.format == "PNG":
        # load() skips chunk CRCs, which strict decoders (libpng) refuse.
        with _open(data) as probe:
            probe.verify()
    if im.format in ("JPEG", "MPO"):
        # libjpeg still reads every byte at 1/8 scale, so truncation and corruption surface,
        # at a fraction of the cost of a full decode (measured: -3.2 ms per 1280 px photo).
        with _open(data) as probe:
            probe.draft(None, (max(1, probe.width // 8), max(1, probe.height // 8)))
            probe.load()
        return
    im.load()


def _orientation(im: ImageFile.ImageFile) -> int:
    """Return the EXIF orientation (1 = upright); a broken EXIF block counts as upright."""
    if im.format == "PNG" and "exif" not in im.info:
        # eXIf must precede IDAT (PNG 3rd edition); getexif() would decode all pixels to
        # look for a late one.
        return 1
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        log.debug("ignoring unreadable EXIF", exc_info=True)
        return 1
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def _draft_jpeg(im: ImageFile.ImageFile, max_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still leaves enough pixels."""
    longest = max(im.size)
    floor = int(max_side * _DRAFT_MIN_FRACTION)
    for reduction in _JPEG_REDUCTION_STEPS:
        if longest // reduction >= floor:
            im.draft(None, (max(1, im.width // reduction), max(1, im.height // reduction)))
            return


def _to_8bit(im: Image.Image) -> Image.Image:
    """Return `im` in L, LA, RGB or RGBA (the same object when it already is)."""
    mode = im.mode
    # A PNG tRNS colour key marks transparent pixels just as an alpha channel does: promote it
    # to one, so a re-encode keeps them transparent as it does an RGBA PNG's (and as the model
    # sees a pass-through file), instead of painting them in the key colour, often black.
    keyed = "transparency" in im.info
    if keyed and mode in ("1", "L", "RGB"):
        return im.convert("RGBA" if mode == "RGB" else "LA")
    if mode in _PASS_THROUGH_MODES:
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode.startswith("I") or mode == "F":
        gray = _gray_to_8bit(im)
        key = im.info.get("transparency")
        if isinstance(key, int):
            gray.putalpha(_key_alpha(im, key))
        return gray
    target = "RGBA" if "A" in im.getbands() or mode == "RGBa" else "RGB"
    try:
        return im.convert(target)
    except ValueError as exc:
        raise ImageRejected(RejectReason.UNSUPPORTED_FORMAT, f"pixel mode {mode}") from exc


def _key_alpha(im: Image.Image, key: int) -> Image.Image:
    """Return an L mask, 0 where 16/32-bit gray `im` equals `key` and 255 elsewhere."""
    # convert("LA") would clip values to 8 bits first, so a key of 40000 would match nothing.
    differs = ImageMath.lambda_eval(lambda args: args["im"] != key, im=im.convert("I"))
    assert isinstance(differs, Image.Image)
    return differs.convert("L").point(lambda value: 255 if value else 0)


def _gray_to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit or float gray to L; a plain convert() clips all above 255 to white."""
    if im.mode.startswith("I;16"):
        scale, offset = 1 / 257, 0.0  # 65535 -> 255
        im = im.convert("I")
    else:
        low, high = im.getextrema()
        assert isinstance(low, int | float)
        assert isinstance(high, int | float)
        if im.mode == "F" and low >= 0 and high <= 1:
            scale, offset = 255.0, 0.0
        elif low >= 0 and high <= 255:
            scale, offset = 1.0, 0.0
        elif low >= 0 and high <= 65535:
            scale, offset = 1 / 257, 0.0
        else:
            scale = 255 / ((high - low) or 1)  # signed or huge range: stretch it
            offset = -low * scale
    return im.point(lambda value: value * scale + offset).convert("L")


def _alpha_in_use(im: Image.Image) -> bool:
    """Tell whether any pixel is not fully opaque."""
    low, _high = im.getchannel("A").getextrema()
    return bool(low != 255)


def _color_family(mode: str) -> str:
    """Group modes whose ICC profiles are interchangeable."""
    if mode in _GRAY_MODES or mode.startswith("I;16"):
        return "gray"
    if mode in _RGB_MODES:
        return "rgb"
    return mode


def _encode_within(
    frame: Image.Image, transparent: bool, icc: bytes | None, max_bytes: int
) -> tuple[bytes, str, Image.Image, bool]:
    """Encode as PNG (transparent) or JPEG, lowering quality then size until it fits."""
    extra = {"icc_profile": icc} if icc else {}
    shrunk = False
    while True:
        if transparent:
            encoded = _save(frame, "PNG", **extra)
            mime = "image/png"
        else:
            for quality in _JPEG_QUALITIES:
                encoded = _save(frame, "JPEG", quality=quality, **extra)
                if len(encoded) <= max_bytes:
                    break
            mime = "image/jpeg"
        if len(encoded) <= max_bytes or frame.width == frame.height == 1:
            return encoded, mime, frame, shrunk
        # Size scales roughly with area; aim a little below the limit, at least 10 % smaller.
        factor = min(0.9, (max_bytes / len(encoded)) ** 0.5 * 0.95)
        new_size = (max(1, int(frame.width * factor)), max(1, int(frame.height * factor)))
        frame = frame.resize(new_size, Image.Resampling.LANCZOS)
        shrunk = True


def _save(frame: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode `frame` without EXIF (orientation is applied; GPS tags stay private)."""
    buffer = io.BytesIO()
    frame.save(buffer, fmt, **params)
    return buffer.getvalue()


def _register_heif_opener() -> bool:
    """Register pillow-heif's Pillow plugin once; False when it is not installed."""
    with _heif_lock:
        if "HEIF" in Image.OPEN:
            return True
        try:
            import pillow_heif  # noqa: PLC0415 - lazy: costs start-up time, needed for HEIC only
        except ImportError:
            return False
        pillow_heif.register_heif_opener()
        return True


def _png_header(data: bytes) -> tuple[int, int, int] | None:
    """Return (width, height, bit depth) from a PNG's IHDR, or None when it is not a PNG."""
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 25:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height, data[24]


def _is_16bit_png(data: bytes) -> bool:
    """Tell a 16-bit PNG apart: Pillow shows 16-bit RGB(A) as 8-bit modes."""
    header = _png_header(data)
    return header is not None and header[2] == 16


def _ftyp_brands(data: bytes) -> frozenset[bytes]:
    """Return the major and compatible brands of an ISO-BMFF (HEIF/AVIF/MP4) file."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return frozenset()
    end = min(_u32be(data, 0), len(data), 256)
    compatible = (data[i : i + 4] for i in range(16, end - 3, 4))
    return frozenset({data[8:12], *compatible})


def _looks_like_svg(data: bytes) -> bool:
    """Tell an SVG document (root element <svg>) apart from HTML and other text."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg"):
        return True
    if not head.startswith((b"<?xml", b"<!--", b"<!doctype svg")):
        return False
    svg, html = head.find(b"<svg"), head.find(b"<html")
    return svg != -1 and (html == -1 or svg < html)


def _u32le(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little")


def _u32be(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "big")

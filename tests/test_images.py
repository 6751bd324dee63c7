"""Tests for bot.images: what a user uploads, and what the model gets."""

from __future__ import annotations

import asyncio
import io
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageOps, features

from bot.errors import ImageRejected, RejectReason
from bot.images import (
    ImageLimits,
    ImageNote,
    PreparedImage,
    image_size,
    prepare_image,
    prepare_image_sync,
    sniff_mime,
)
from bot.preview import jpeg_preview
from tests import nasty_images as nasty

DEFAULTS = ImageLimits()


def decode(prepared: PreparedImage) -> Image.Image:
    """Decode a result fully, checking its declared MIME type against its content."""
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    assert Image.MIME[image.format or ""] == prepared.mime_type
    assert image.size == (prepared.width, prepared.height)
    return image


def close_to(actual: object, expected: tuple[int, ...], tolerance: int = 24) -> bool:
    """Tell whether a pixel matches a colour up to lossy-codec noise."""
    assert isinstance(actual, tuple)
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def rejected(data: bytes, limits: ImageLimits = DEFAULTS) -> RejectReason:
    """Return the reason prepare_image_sync refuses `data`."""
    with pytest.raises(ImageRejected) as caught:
        prepare_image_sync(data, limits)
    return caught.value.reason


# Pass-through: acceptable bytes reach the model untouched.


def test_normal_jpeg_passes_through_untouched() -> None:
    data = nasty.normal_jpeg()
    assert 300_000 < len(data) < 500_000

    result = prepare_image_sync(data)

    assert result.data is data
    assert (result.mime_type, result.width, result.height, result.notes) == (
        "image/jpeg",
        1280,
        960,
        (),
    )


def test_small_png_passes_through_untouched() -> None:
    data = nasty.small_png()
    result = prepare_image_sync(data)
    assert result.data is data
    assert (result.mime_type, result.width, result.height, result.notes) == (
        "image/png",
        64,
        48,
        (),
    )


def test_png_with_alpha_passes_through_untouched() -> None:
    data = nasty.png_with_alpha()
    result = prepare_image_sync(data)
    assert result.data is data
    assert result.mime_type == "image/png"
    assert result.notes == ()


# Refusals, each with its reason.


def test_empty_file_is_empty() -> None:
    assert rejected(nasty.empty()) is RejectReason.EMPTY


def test_file_above_max_bytes_is_too_large_before_any_decode() -> None:
    limits = ImageLimits(max_bytes=100_000)
    assert rejected(nasty.normal_jpeg(), limits) is RejectReason.TOO_LARGE


def test_truncated_jpeg_is_corrupt_never_passed_through() -> None:
    assert rejected(nasty.truncated_jpeg()) is RejectReason.CORRUPT


def test_png_with_bad_checksum_is_corrupt() -> None:
    assert rejected(nasty.png_with_bad_crc()) is RejectReason.CORRUPT


def test_html_named_png_is_not_an_image() -> None:
    assert rejected(nasty.html_named_png()) is RejectReason.NOT_AN_IMAGE


def test_random_bytes_are_not_an_image() -> None:
    assert rejected(bytes(range(256)) * 4) is RejectReason.NOT_AN_IMAGE


@pytest.mark.parametrize("make", [nasty.svg, nasty.pdf, nasty.ico], ids=lambda f: f.__name__)
def test_vector_document_and_icon_formats_are_unsupported(make: nasty.Maker) -> None:
    assert rejected(make()) is RejectReason.UNSUPPORTED_FORMAT


def test_png_header_claiming_30000x30000_is_too_many_pixels() -> None:
    # 900 Mpx: Pillow's own DecompressionBombError fires inside Image.open.
    assert rejected(nasty.png_header_only(30000, 30000)) is RejectReason.TOO_MANY_PIXELS


def test_pillow_bomb_warning_range_is_refused_without_leaking_a_warning() -> None:
    # 100 Mpx sits between Pillow's warning and error thresholds. Filters set to "always", not
    # "error", so a leaked warning would be recorded instead of raised.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reason = rejected(nasty.png_header_only(10000, 10000))
    assert reason is RejectReason.TOO_MANY_PIXELS
    assert caught == []


def test_declared_size_above_our_cap_is_too_many_pixels() -> None:
    # 48 Mpx: below Pillow's limit, above ours.
    assert rejected(nasty.png_header_only(8000, 6000)) is RejectReason.TOO_MANY_PIXELS


def test_strip_20000x1_is_bad_dimensions() -> None:
    assert rejected(nasty.strip_png(20000, 1)) is RejectReason.BAD_DIMENSIONS


def test_zero_width_png_is_bad_dimensions() -> None:
    assert rejected(nasty.png_header_only(0, 100)) is RejectReason.BAD_DIMENSIONS


# Conversions.


def test_animated_gif_becomes_its_first_frame() -> None:
    result = prepare_image_sync(nasty.animated_gif((nasty.RED, nasty.GREEN, nasty.BLUE)))

    assert ImageNote.ANIMATED_FIRST_FRAME in result.notes
    assert result.mime_type == "image/jpeg"
    assert close_to(decode(result).convert("RGB").getpixel((32, 32)), nasty.RED)


def test_animated_webp_becomes_its_first_frame() -> None:
    result = prepare_image_sync(nasty.animated_webp((nasty.GREEN, nasty.RED, nasty.BLUE)))

    assert ImageNote.ANIMATED_FIRST_FRAME in result.notes
    assert result.mime_type == "image/jpeg"
    assert close_to(decode(result).convert("RGB").getpixel((32, 32)), nasty.GREEN)


@pytest.mark.skipif(
    not nasty.heic_encoder_available(), reason="pillow-heif has no HEIC encoder (libheif+x265)"
)
def test_heic_is_converted_to_jpeg() -> None:
    result = prepare_image_sync(nasty.heic(320, 240))

    assert result.mime_type == "image/jpeg"
    assert (result.width, result.height) == (320, 240)
    assert result.notes == (ImageNote.CONVERTED,)
    decode(result)


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    result = prepare_image_sync(nasty.cmyk_jpeg())

    image = decode(result)
    assert image.mode == "RGB"
    assert result.notes == (ImageNote.CONVERTED,)
    assert close_to(image.getpixel((32, 32)), nasty.RED)


def test_16bit_gray_png_gradient_is_scaled_not_saturated() -> None:
    result = prepare_image_sync(nasty.gray16_png(width=256))

    image = decode(result).convert("L")
    assert result.notes == (ImageNote.CONVERTED,)
    row = [image.getpixel((x, 16)) for x in (0, 64, 128, 192, 255)]
    assert close_to(tuple(row), (0, 64, 128, 192, 255), tolerance=6)


def test_16bit_rgb_png_is_reencoded() -> None:
    # Pillow shows it as 8-bit RGB; only the IHDR tells, and it is not what we promise to send.
    result = prepare_image_sync(nasty.rgb16_png())

    assert result.notes == (ImageNote.CONVERTED,)
    assert close_to(decode(result).getpixel((16, 8)), nasty.RED)


def test_palette_png_with_transparency_keeps_its_alpha() -> None:
    result = prepare_image_sync(nasty.palette_png_with_transparency())

    image = decode(result)
    assert result.mime_type == "image/png"
    assert result.notes == (ImageNote.CONVERTED,)
    assert image.mode == "RGBA"
    assert image.getpixel((8, 8))[3] == 0  # type: ignore[index]
    assert image.getpixel((56, 8)) == (*nasty.RED, 255)


@pytest.mark.parametrize("mode", nasty.COLOUR_KEY_MODES)
@pytest.mark.parametrize("why", ["downscaled", "rotated"])
def test_colour_key_transparency_survives_a_reencode(mode: str, why: str) -> None:
    # A tRNS chunk makes black transparent: re-encoded, it must stay transparent, never turn
    # into the opaque black the key colour stands for.
    if why == "downscaled":
        data, limits = nasty.colour_key_png(mode, (128, 96)), ImageLimits(max_side=64)
        expected_size, note = (64, 48), ImageNote.DOWNSCALED
    else:
        data, limits = nasty.colour_key_png(mode, (128, 96), orientation=6), DEFAULTS
        expected_size, note = (96, 128), ImageNote.ROTATED

    result = prepare_image_sync(data, limits)

    image = decode(result)
    assert result.mime_type == "image/png"
    assert note in result.notes
    assert image.size == expected_size
    rgba = image.convert("RGBA")
    width, height = expected_size
    for corner in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
        assert rgba.getpixel(corner)[3] == 0  # type: ignore[index]
    logo = nasty.RED if mode in ("RGB", "P") else nasty.WHITE
    assert rgba.getpixel((width // 2, height // 2)) == (*logo, 255)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_small_colour_key_png_still_passes_through_untouched(mode: str) -> None:
    data = nasty.colour_key_png(mode, (64, 48))
    assert prepare_image_sync(data).data is data


@pytest.mark.parametrize("mode", ["1", "L", "RGB", "P"])
def test_colour_key_png_preview_is_flattened_onto_white(mode: str) -> None:
    # A JPEG preview has no alpha: transparent pixels go white, as for RGBA, not key-black.
    preview = jpeg_preview(nasty.colour_key_png(mode, (128, 96)), 1_000_000)

    assert preview is not None
    image = Image.open(io.BytesIO(preview)).convert("RGB")
    assert close_to(image.getpixel((2, 2)), nasty.WHITE)
    logo = nasty.RED if mode in ("RGB", "P") else nasty.WHITE
    assert close_to(image.getpixel((64, 48)), logo)


def test_exif_orientation_6_comes_out_upright() -> None:
    # Stored 400x200 with red top-left; orientation 6 means "rotate 90 degrees clockwise".
    result = prepare_image_sync(nasty.exif_rotated_jpeg(orientation=6))

    image = decode(result)
    assert (result.width, result.height) == (200, 400)
    assert result.notes == (ImageNote.ROTATED,)
    assert "exif" not in image.info
    assert close_to(image.getpixel((200 - 20, 20)), nasty.RED)  # now top-right
    assert close_to(image.getpixel((20, 20)), nasty.BLUE)
    assert close_to(image.getpixel((20, 380)), nasty.BLUE)


# (format, pixel mode) of every file that can carry an EXIF orientation; G4 is 1-bit only.
ORIENTED_KINDS = [
    ("JPEG", "RGB"),
    ("WEBP", "RGB"),
    ("PNG", "RGB"),
    ("AVIF", "RGB"),
    ("TIFF", "RGB"),
    ("TIFF", "1"),
]


def marker_corners(image: Image.Image, mode: str) -> tuple[str, ...]:
    """Name what the four corners of a decoded `nasty.upright_marker` show (TL, TR, BL, BR)."""
    width, height = image.size
    points = ((8, 6), (width - 8, 6), (8, height - 6), (width - 8, height - 6))
    if mode == "1":
        gray = image.convert("L")
        return tuple("mark" if gray.getpixel(p) > 200 else "dark" for p in points)  # type: ignore[operator]
    rgb = image.convert("RGB")
    names = {"red": nasty.RED, "green": nasty.GREEN, "blue": nasty.BLUE}
    return tuple(
        next((name for name, colour in names.items() if close_to(rgb.getpixel(p), colour)), "?")
        for p in points
    )


def upright_corners(mode: str) -> tuple[str, ...]:
    """Return what marker_corners names for the marker seen upright."""
    return ("mark", "dark", "dark", "dark") if mode == "1" else ("red", "green", "blue", "blue")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_oriented_samples_show_upright_in_a_reference_viewer(orientation: int) -> None:
    # Guards the builder: Pillow's exif_transpose on the JPEG is the viewer the tests copy.
    viewed = ImageOps.exif_transpose(Image.open(io.BytesIO(nasty.oriented("JPEG", orientation))))
    assert viewed.size == nasty.MARKER_SIZE
    assert marker_corners(viewed, "RGB") == upright_corners("RGB")


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("fmt", "mode"), ORIENTED_KINDS)
async def test_every_exif_orientation_reaches_the_model_upright(
    fmt: str, mode: str, orientation: int
) -> None:
    # Pillow's TIFF loader applies the tag itself on load; applying it again turned a 6 sideways.
    if fmt == "AVIF" and not nasty.avif_encoder_available():
        pytest.skip("Pillow cannot write AVIF here")
    data = nasty.oriented(fmt, orientation, mode)

    result = await prepare_image(data)

    image = decode(result)
    assert image.size == nasty.MARKER_SIZE
    assert marker_corners(image, mode) == upright_corners(mode)
    if orientation != 1:
        assert ImageNote.ROTATED in result.notes


@pytest.mark.parametrize("make", [nasty.bmp, nasty.tiff, nasty.avif], ids=lambda f: f.__name__)
def test_other_raster_formats_are_converted_to_jpeg(make: nasty.Maker) -> None:
    if make is nasty.avif and not features.check("avif"):
        pytest.skip("Pillow built without AVIF support")

    result = prepare_image_sync(make())

    assert (result.mime_type, result.width, result.height) == ("image/jpeg", 64, 48)
    assert result.notes == (ImageNote.CONVERTED,)
    decode(result)


def test_corrupt_exif_does_not_reject_a_good_photo() -> None:
    # Pillow warns while parsing the EXIF; pytest would turn a leaked warning into an error.
    data = nasty.jpeg_with_corrupt_exif()
    assert prepare_image_sync(data).data is data


def test_6000x4000_jpeg_is_downscaled_below_max_side() -> None:
    data = nasty.huge_jpeg()

    result = prepare_image_sync(data)

    assert result.mime_type == "image/jpeg"
    assert result.notes == (ImageNote.DOWNSCALED,)
    # JPEG draft decodes at 1/2 scale: 3000 px is within 10 % of max_side and ~8x cheaper.
    assert 0.9 * DEFAULTS.max_side <= result.width <= DEFAULTS.max_side
    assert result.width / result.height == pytest.approx(1.5, rel=0.01)
    decode(result)


def test_opaque_rgba_png_above_max_side_goes_to_jpeg() -> None:
    result = prepare_image_sync(nasty.opaque_rgba_png(3200, 1600))

    assert result.mime_type == "image/jpeg"
    assert (result.width, result.height) == (2048, 1024)
    assert result.notes == (ImageNote.DOWNSCALED,)


def test_jpeg_above_output_limit_is_reencoded_to_fit() -> None:
    data = nasty.jpeg_over_output_limit()
    limits = ImageLimits(max_side=3072)  # the side fits: only the byte limit forces a re-encode
    assert len(data) > limits.max_output_bytes

    result = prepare_image_sync(data, limits)

    assert result.mime_type == "image/jpeg"
    assert len(result.data) <= limits.max_output_bytes
    assert (result.width, result.height) == (2800, 2800)
    decode(result)


def test_tight_output_limit_steps_down_to_a_smaller_image() -> None:
    limits = ImageLimits(max_output_bytes=60_000)

    result = prepare_image_sync(nasty.normal_jpeg(), limits)

    assert len(result.data) <= 60_000
    assert ImageNote.DOWNSCALED in result.notes
    assert result.width < 1280
    decode(result)


@pytest.mark.parametrize(
    "make",
    [
        nasty.small_png,
        nasty.exif_rotated_jpeg,
        nasty.cmyk_jpeg,
        nasty.animated_gif,
        nasty.animated_webp,
        nasty.palette_png_with_transparency,
        nasty.gray16_png,
        nasty.bmp,
        nasty.tiff,
    ],
    ids=lambda f: f.__name__,
)
def test_damaged_files_are_refused_or_come_out_decodable(make: nasty.Maker) -> None:
    accepted = refused = 0
    for damaged in nasty.mutations(make(), 40):
        try:
            result = prepare_image_sync(damaged)
        except ImageRejected:
            refused += 1
            continue
        accepted += 1
        decode(result)  # whatever we hand the model must decode in full
    # Both branches must run, or the test proves nothing: a flipped pixel byte usually still
    # decodes, a file cut short does not. A small RGB PNG is one CRC-checked IDAT chunk, so
    # with this seed every damaged copy of it is (rightly) refused.
    assert refused, (accepted, refused)
    assert accepted or make is nasty.small_png, (accepted, refused)


# Concurrency: the event loop never runs Pillow, and threads do not disturb each other.


async def test_prepare_image_keeps_the_event_loop_responsive() -> None:
    started = False
    ticks_while_working = 0

    async def normalize() -> PreparedImage:
        nonlocal started
        started = True
        return await prepare_image(nasty.huge_jpeg())

    async def ticker(work: asyncio.Task[PreparedImage]) -> None:
        nonlocal ticks_while_working
        while not work.done():
            if started:
                ticks_while_working += 1
            await asyncio.sleep(0)

    work = asyncio.create_task(normalize())
    await ticker(work)

    # Had Pillow run on the loop, normalize() would finish in the step that set `started`.
    assert ticks_while_working > 0
    assert ImageNote.DOWNSCALED in work.result().notes


def test_many_threads_at_once_get_the_right_answers() -> None:
    filters_before = list(warnings.filters)
    inputs = [nasty.png_header_only(10000, 10000), nasty.animated_gif(), nasty.small_png()] * 30

    def outcome(data: bytes) -> str:
        try:
            return prepare_image_sync(data).mime_type
        except ImageRejected as exc:
            return exc.reason.value

    # Switching threads every microsecond makes an unguarded catch_warnings() race show up.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(outcome, inputs))
    finally:
        sys.setswitchinterval(interval)

    assert outcomes == ["too_many_pixels", "image/jpeg", "image/png"] * 30
    assert warnings.filters == filters_before


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ImageLimits(max_side=0)


# Probing helpers.


@pytest.mark.parametrize(
    ("make", "mime"),
    [
        (nasty.normal_jpeg, "image/jpeg"),
        (nasty.small_png, "image/png"),
        (nasty.animated_webp, "image/webp"),
        (nasty.animated_gif, "image/gif"),
        (nasty.cmyk_jpeg, "image/jpeg"),
        (nasty.html_named_png, None),
        (nasty.svg, None),
        (nasty.empty, None),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_sniff_mime_reads_magic_bytes(make: nasty.Maker, mime: str | None) -> None:
    assert sniff_mime(make()) == mime


def test_sniff_mime_knows_heic_by_its_ftyp_brand() -> None:
    assert sniff_mime(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "image/heic"
    assert sniff_mime(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic") == "image/heic"
    assert sniff_mime(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomavc1") is None


def test_image_size_reads_the_header_of_a_prepared_image() -> None:
    prepared = prepare_image_sync(nasty.exif_rotated_jpeg())
    assert image_size(prepared.data) == (200, 400)
    assert image_size(nasty.small_png()) == (64, 48)
    # Header only: the IDAT holds 16 bytes for 12 Mpx, so a decode would fail.
    assert image_size(nasty.png_header_only(4000, 3000)) == (4000, 3000)


def test_image_size_of_garbage_is_not_an_image() -> None:
    with pytest.raises(ImageRejected) as caught:
        image_size(nasty.html_named_png())
    assert caught.value.reason is RejectReason.NOT_AN_IMAGE

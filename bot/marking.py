"""Region edits by marking: recognise a marked-up copy of a picture, find the marked region,
and put the model's answer back into the original only there. Pure Pillow: call in a thread.

A marked copy is the original with strokes drawn over it (circles, scribbles, arrows), then
re-encoded and maybe downscaled by the platform. Both pictures are compared at the copy's scale
(at most COMPARE_SIDE), slightly blurred so JPEG's smeared colour edges do not count: a pixel
is *stroke* when its largest channel difference exceeds STROKE_DIFF, or STROKE_EDGE_DIFF next
to one that does. The copy is a marked copy when it has the original's shape (2%), strokes
cover 0.05-40% of it, and the rest is nearly identical: the mean difference outside the
strokes' neighbourhood stays under BACKGROUND_DIFF.

Measured (tests/test_marking.py, docs/region_example.py): photo-like originals re-encoded as a
platform does (1280 px, JPEG q80) differ by 2.3-2.6 on average outside the strokes, and 0.0%
of their pixels pass STROKE_DIFF; brightened copies, other photos, crops and blurs all differ
by well over 8, so none of 30 such pairs is taken for a marked copy. Over 30 marked copies
(circle, scribble, arrow; red, green, blue, white, black; 5 and 16 px) the region found
overlaps the one meant with IoU 0.84 or more (margins included). A stroke in the very colour
the picture already has under it cannot be seen: marks should stand out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps, ImageStat

from bot.preview import flatten

COMPARE_SIDE = 1024  # where the pictures are compared
ANALYSIS_SIDE = 512  # where the region is shaped
FILL_SIDE = 256  # where enclosed areas are found
HYSTERESIS_STEPS = 6
EDGE_BLUR = 1.0  # px at COMPARE_SIDE
ASPECT_TOLERANCE = 0.02
STROKE_DIFF = 56  # a pixel's largest channel difference that surely belongs to a stroke
STROKE_EDGE_DIFF = 18  # ... and the weaker one its neighbours need (a stroke over similar colour)
BACKGROUND_DIFF = 8.0  # mean largest-channel difference allowed outside the strokes
MAX_STROKE_SHARE = 0.40
MIN_STROKE_SHARE = 0.0005  # fewer stroke pixels than this is noise, not a mark
MARGIN_SHARE = 0.025  # the region grows by this share of the shorter side ...
FEATHER_SHARE = 0.008  # ... and fades out over about three times this
GUIDE_TINT = (255, 40, 40)


@dataclass(frozen=True, slots=True)
class Marking:
    """What the comparison found: the marked region as a feathered mask at the original's size,
    and the statistics it was decided on."""

    mask: Image.Image  # mode L, the original's size; 255 = change, 0 = keep
    core: Image.Image  # mode L, ANALYSIS scale: strokes and what they enclose, before margin
    stroke_share: float
    background_diff: float


def _rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        return flatten(ImageOps.exif_transpose(opened))


def _upright_size(data: bytes) -> tuple[int, int]:
    """Width and height as shown (EXIF rotation applied), from the header only."""
    with Image.open(io.BytesIO(data)) as opened:
        width, height = opened.size
        turned = opened.getexif().get(0x0112) in (5, 6, 7, 8)  # Orientation: a quarter turn
    return (height, width) if turned else (width, height)


def _same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    ratio = a[0] / a[1]
    return abs(b[0] / b[1] - ratio) / ratio <= ASPECT_TOLERANCE


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """`size` scaled so its longer side is at most `side`."""
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _largest_channel(diff: Image.Image) -> Image.Image:
    red, green, blue = diff.split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def find_marking(original: bytes, marked: bytes) -> Marking | None:
    """The region `marked` marks on `original`, or None when it is no marked copy of it."""
    if not _same_shape(_upright_size(original), _upright_size(marked)):
        return None  # from the headers: most second pictures stop here, undecoded
    before, after = _rgb(original), _rgb(marked)
    if not _same_shape(before.size, after.size):
        return None
    # Compared at the copy's own scale (at most COMPARE_SIDE): a thin stroke stays thick
    # enough to see. The original goes through the same resampling a platform applies.
    compare = _fit(after.size, COMPARE_SIDE)
    small_before = before.resize(compare, Image.Resampling.LANCZOS)
    small_after = (
        after if after.size == compare else after.resize(compare, Image.Resampling.LANCZOS)
    )
    # A little blur on both: JPEG's chroma subsampling smears a sharp colour edge over a
    # pixel or two (big differences, in flat drawings especially); a stroke is wider.
    soften = ImageFilter.GaussianBlur(EDGE_BLUR)
    diff = _largest_channel(
        ImageChops.difference(small_before.filter(soften), small_after.filter(soften))
    )
    # Hysteresis: sure stroke pixels, then weaker ones connected to them (a green line over
    # green grass differs less), so a thin circle stays closed.
    sure = diff.point(lambda v: 255 if v > STROKE_DIFF else 0)
    weak = diff.point(lambda v: 255 if v > STROKE_EDGE_DIFF else 0)
    strokes = sure
    for _ in range(HYSTERESIS_STEPS):
        strokes = ImageChops.multiply(weak, strokes.filter(ImageFilter.MaxFilter(3)))
    size = compare
    total = size[0] * size[1]
    stroke_share = _share(strokes, total)
    if not MIN_STROKE_SHARE <= stroke_share <= MAX_STROKE_SHARE:
        return None
    near = strokes.filter(ImageFilter.MaxFilter(7))  # strokes' soft, anti-aliased edges
    background = ImageChops.invert(near)
    kept = _share(background, total)
    if kept == 0:
        return None
    background_diff = ImageStat.Stat(diff, background).mean[0]
    if background_diff > BACKGROUND_DIFF:
        return None
    # Flood fill and margins at ANALYSIS_SIDE: any stroke coverage keeps a pixel, so thin
    # lines stay connected.
    analysis = strokes.resize(_fit(strokes.size, ANALYSIS_SIDE), Image.Resampling.BOX)
    core = _with_enclosed(analysis.point(lambda v: 255 if v > 0 else 0))
    return Marking(_feathered(core, before.size), core, stroke_share, background_diff)


def grown(core: Image.Image, shorter: int) -> Image.Image:
    """`core` (analysis scale) grown by the margin: MARGIN_SHARE of the original's `shorter`
    side, in analysis pixels."""
    scale = min(core.size) / shorter
    grow = max(1, round(shorter * MARGIN_SHARE * scale))
    mask = core
    while grow > 0:  # MaxFilter takes odd sizes; several small ones are cheaper than one big
        step = min(grow, 6)
        mask = mask.filter(ImageFilter.MaxFilter(2 * step + 1))
        grow -= step
    return mask


def _share(mask: Image.Image, total: int) -> float:
    return (mask.histogram()[255] if mask.mode == "L" else 0) / total


def _with_enclosed(strokes: Image.Image) -> Image.Image:
    """The strokes plus every area a stroke closes around (a circled area means its inside)."""
    closed = strokes.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.MinFilter(7))
    # Flood the outside from a frame around the picture, at FILL_SIDE (Pillow's flood fill
    # is Python, pixel by pixel): what the flood cannot reach is enclosed by strokes.
    coarse = closed.resize(_fit(closed.size, FILL_SIDE), Image.Resampling.BOX)
    coarse = coarse.point(lambda v: 255 if v > 0 else 0)  # any stroke stays a wall
    framed = Image.new("L", (coarse.width + 2, coarse.height + 2), 0)
    framed.paste(coarse, (1, 1))
    ImageDraw.floodfill(framed, (0, 0), 128)
    inside = framed.crop((1, 1, coarse.width + 1, coarse.height + 1)).point(
        lambda v: 255 if v != 128 else 0
    )
    inside = inside.resize(strokes.size, Image.Resampling.BILINEAR)
    return ImageChops.lighter(inside.point(lambda v: 255 if v >= 128 else 0), strokes)


def _feathered(core: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`core` grown by the margin, at `size`, faded out at its edge; 0 far from it."""
    shorter = min(size)
    mask = grown(core, shorter).resize(size, Image.Resampling.BILINEAR)
    mask = mask.point(lambda v: 255 if v >= 128 else 0)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, shorter * FEATHER_SHARE)))
    return mask.point(lambda v: 0 if v < 4 else v)  # no faint tail far from the region


def guide(original: bytes, mask: Image.Image) -> bytes:
    """The original with the region tinted and outlined: what the model is shown to point at
    the place (the user's own marks are never sent)."""
    image = _rgb(original)
    hard = mask.point(lambda v: 255 if v >= 128 else 0)
    tint = Image.new("RGB", image.size, GUIDE_TINT)
    tinted = Image.composite(Image.blend(image, tint, 0.35), image, hard)
    edge = ImageChops.subtract(hard.filter(ImageFilter.MaxFilter(5)), hard)
    tinted.paste(tint, mask=edge)
    buf = io.BytesIO()
    tinted.save(buf, "PNG")
    return buf.getvalue()


def composite(original: bytes, answer: bytes, mask: Image.Image) -> bytes:
    """The model's answer inside the region, the original everywhere else, as PNG."""
    before = _rgb(original)
    after = _rgb(answer)
    if after.size != before.size:
        after = after.resize(before.size, Image.Resampling.LANCZOS)
    if mask.size != before.size:
        mask = mask.resize(before.size, Image.Resampling.BILINEAR)
    blended = Image.composite(after, before, mask)
    buf = io.BytesIO()
    blended.save(buf, "PNG")
    return buf.getvalue()


def mask_png(mask: Image.Image) -> bytes:
    """The mask as a PNG to store with the turn."""
    buf = io.BytesIO()
    mask.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def mask_from_png(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("L")

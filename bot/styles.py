"""Reference names, and the built-in styles every chat can use as #NAME.

The styles come from the seed's use cases; `[[styles]]` in the config replaces them by name and
adds more. A name is 1-32 letters of any script, digits, `_` or `-`, compared case-insensitively.
"""

from __future__ import annotations

import unicodedata

MAX_NAME = 32
# Words of the /ref command itself: a reference called "delete" could never be saved or used.
RESERVED = frozenset({"save", "delete", "list"})

BUILT_IN_STYLES: dict[str, str] = {
    "figurine": (
        "Turn the subject into a 1/7 scale commercial collectible figure in a realistic style, "
        "standing on a round transparent acrylic base on a computer desk. Beside it, its "
        "retail box printed with artwork of the figure; on the monitor, the figure's 3D "
        "modelling in progress."
    ),
    "ar": (
        "Make it a location-based augmented-reality view: label the points of interest in the "
        "scene with clean floating callouts, small icons and one-line facts, like a heads-up "
        "display over the real place."
    ),
    "mall80s": (
        "Restyle as a 1980s American mall portrait-studio photo: soft-focus glow, a laser or "
        "gradient backdrop, big hair and period clothes, a posed smile, and the colour cast of "
        "an old print."
    ),
    "billboard": (
        "Show the subject as an outdoor advertising mockup: a large billboard in a realistic "
        "street or highway setting, in perspective and daylight, with a short tagline."
    ),
    "sticker": (
        "Make the subject a die-cut sticker: bold clean outlines, flat vivid colours and a "
        "thick white border following its shape, on a plain background."
    ),
    "blueprint": (
        "Draw the subject as a technical blueprint: white lines on blue paper, orthographic "
        "views, dimension lines and neat handwritten annotations."
    ),
    "infographic": (
        "Turn it into an infographic about the subject: clear sections, icons, short legible "
        "labels and a few key figures, in a clean flat design."
    ),
    "claymation": (
        "Recreate the scene as claymation: handmade plasticine characters and sets, visible "
        "fingerprints and soft studio light, like a still from a stop-motion film."
    ),
}


def is_name_char(char: str) -> bool:
    """Letters of any script (with their combining marks), digits, `_` and `-`."""
    return char.isalnum() or char in "_-" or unicodedata.category(char).startswith("M")


def valid_name(name: str) -> bool:
    """Whether `name` may name a reference (reserved words aside)."""
    return (
        0 < len(name) <= MAX_NAME
        and all(is_name_char(c) for c in name)
        and not unicodedata.category(name[0]).startswith("M")
    )

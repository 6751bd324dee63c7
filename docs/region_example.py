"""Draw docs/region-example.png, the README's region-edit example: before, marked, after.

No model is needed: a drawn scene stands in for a result, a red loop drawn over it (and sent
through JPEG, as a platform would) for the user's marking, and a stand-in answer that changes
more than asked (a window on the wall, but also a purple sky) for the model's. The bot's own
code finds the region and blends, so the sky stays as it was.

    python docs/region_example.py [output.png]
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import marking
from bot.storyboard import font

SIZE = (900, 600)
OUTPUT = Path(__file__).resolve().parent / "region-example.png"


def scene() -> Image.Image:
    """A house under a blue sky: the picture the bot made before."""
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(SIZE[1]):
        sky = (90 + y // 8, 150 + y // 10, 230)
        ground = (70 + y // 20, 140, 60)
        draw.line([(0, y), (SIZE[0], y)], fill=sky if y < 420 else ground)
    draw.ellipse((720, 50, 820, 150), fill=(250, 220, 90))  # the sun
    draw.rectangle((300, 250, 600, 450), fill=(210, 180, 150))  # the wall
    draw.polygon([(280, 250), (450, 150), (620, 250)], fill=(150, 60, 50))  # the roof
    draw.rectangle((420, 350, 480, 450), fill=(110, 70, 40))  # the door
    draw.rectangle((120, 300, 150, 450), fill=(100, 70, 40))  # a tree
    draw.ellipse((70, 200, 200, 330), fill=(50, 120, 50))
    return image


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def marked_copy(before: Image.Image) -> bytes:
    """The user's marking: a loop drawn with a red brush around the left of the wall."""
    copy = before.copy()
    ImageDraw.Draw(copy).ellipse((315, 265, 410, 345), outline=(230, 20, 20), width=7)
    buf = io.BytesIO()
    copy.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def stand_in_answer(before: Image.Image) -> bytes:
    """What a model might return: the window asked for, and a sky nobody asked to change."""
    answer = before.copy()
    draw = ImageDraw.Draw(answer)
    draw.rectangle((0, 0, SIZE[0], 240), fill=(150, 110, 200))
    draw.rectangle((330, 280, 395, 330), fill=(170, 210, 240), outline=(255, 255, 255), width=5)
    draw.line([(362, 280), (362, 330)], fill=(255, 255, 255), width=4)
    return png(answer)


def main(output: Path = OUTPUT) -> Path:
    before = scene()
    original, marked = png(before), marked_copy(before)
    found = marking.find_marking(original, marked)
    if found is None:
        raise SystemExit("the marking was not recognised")
    after = marking.composite(original, stand_in_answer(before), found.mask)
    panels = [before, Image.open(io.BytesIO(marked)), Image.open(io.BytesIO(after))]
    labels = ["before", "marked (what you send)", "after (only the loop changed)"]
    sheet = Image.new("RGB", (3 * SIZE[0] + 40, SIZE[1] + 64), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    caption = font(30)
    for n, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        x = 10 + n * (SIZE[0] + 10)
        sheet.paste(panel.convert("RGB"), (x, 10))
        draw.text((x, SIZE[1] + 12), label, font=caption, fill=(30, 30, 30))
    sheet = sheet.resize((sheet.width // 2, sheet.height // 2), Image.Resampling.LANCZOS)
    sheet.save(output, "PNG", optimize=True)
    return output


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT))

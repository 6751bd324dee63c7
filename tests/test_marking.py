"""Region edits by marking: recognising marked copies, the region, and what the user gets."""

from __future__ import annotations

import importlib.util
import io
import itertools
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from bot import marking
from bot.app import open_engine
from bot.region_edits import REGION_INSTRUCTION
from tests.conftest import ALICE, CHAT, RecordingOutbox, make_settings, request
from tests.discord_harness import (
    attachment_bytes,
    bot_messages,
    bot_settings,
    button_ids,
    button_labels,
    serving,
    until_linked,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import TelegramFake
from tests.marking_cases import COLOURS, as_platform_sends, encoded, mark, photo_like
from tests.telegram_harness import button, running_bot, telegram_settings
from tests.test_actions import RecordingReply

SIZE = (1600, 1200)
CASES = list(itertools.product(("circle", "scribble", "arrow"), COLOURS, (5, 16)))


def hard(mask: Image.Image) -> Image.Image:
    return mask.point(lambda v: 255 if v >= 128 else 0)


def iou(a: Image.Image, b: Image.Image) -> float:
    a, b = hard(a), hard(b)
    union = ImageChops.lighter(a, b).histogram()[255]
    return ImageChops.multiply(a, b).histogram()[255] / union if union else 1.0


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


@pytest.mark.parametrize(("kind", "colour", "width"), CASES)
def test_the_marked_region_is_found(kind: str, colour: str, width: int) -> None:
    seed = CASES.index((kind, colour, width))
    original = photo_like(SIZE, seed)
    marked = mark(original, kind, colour, width, seed)
    found = marking.find_marking(encoded(original, compress_level=1), marked.data)
    assert found is not None, "not taken for a marked copy"
    # Compared as the edit may change them: each grown by the same margin.
    meant = hard(marked.intended.resize(found.core.size, Image.Resampling.BOX))
    score = iou(marking.grown(found.core, min(SIZE)), marking.grown(meant, min(SIZE)))
    assert score >= 0.8, f"IoU {score:.3f} (strokes {found.stroke_share:.4f})"
    assert found.background_diff <= marking.BACKGROUND_DIFF


def _not_marked(seed: int) -> list[tuple[str, bytes, bytes]]:
    original = photo_like(SIZE, 100 + seed)
    clean = encoded(original, compress_level=1)
    return [
        ("re-encoded", clean, as_platform_sends(original)),
        ("another photo", clean, as_platform_sends(photo_like(SIZE, 200 + seed))),
        ("brighter", clean, as_platform_sends(ImageEnhance.Brightness(original).enhance(1.2))),
        ("cropped", clean, as_platform_sends(original.crop((120, 90, 1480, 1110)))),
        ("blurred", clean, as_platform_sends(original.filter(ImageFilter.GaussianBlur(3)))),
        ("square crop", clean, as_platform_sends(original.crop((200, 0, 1400, 1200)))),
    ]


@pytest.mark.parametrize("seed", range(5))
def test_unmarked_copies_and_other_photos_are_never_taken_for_marked_copies(seed: int) -> None:
    for name, original, other in _not_marked(seed):  # 5 seeds x 6 kinds: 30 pairs
        assert marking.find_marking(original, other) is None, name


def test_the_blend_keeps_the_original_beyond_six_percent_of_the_shorter_side() -> None:
    original = photo_like(SIZE, 7)
    marked = mark(original, "circle", "red", 8, 7)
    clean = encoded(original, compress_level=1)
    found = marking.find_marking(clean, marked.data)
    assert found is not None
    answer = encoded(Image.new("RGB", (800, 600), (0, 255, 255)))  # smaller, all changed
    blended = pixels(marking.composite(clean, answer, found.mask))
    assert blended.size == SIZE
    # "Near" the region: within 6% of the shorter side (72 px), grown at a quarter scale.
    quarter = hard(
        marked.intended.resize((400, 300), Image.Resampling.BOX).point(lambda v: v and 255)
    )
    for _ in range(3):
        quarter = quarter.filter(ImageFilter.MaxFilter(13))  # 3 x 6 px = 18 px = 72 px here
    far = ImageChops.invert(hard(quarter.resize(SIZE, Image.Resampling.BILINEAR)))
    changed = ImageChops.difference(blended, original.convert("RGB")).convert("L")
    assert ImageChops.multiply(changed.point(lambda v: 255 if v else 0), far).getbbox() is None
    inside = marked.intended.getbbox()
    assert inside is not None
    centre = ((inside[0] + inside[2]) // 2, (inside[1] + inside[3]) // 2)
    assert blended.getpixel(centre) == (0, 255, 255)


# Two photo-sized PNGs make a request over aiohttp's 1 MiB "large body" line; google-genai
# passes the body as bytes, which aiohttp warns about (production requests do the same).
@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")
async def test_a_marked_reply_sends_the_clean_original_and_a_guide_and_blends_the_answer(
    tmp_path: Path,
) -> None:
    small = (800, 600)  # one request carries the original and the guide: keep it light
    original = photo_like(small, 11)
    result = encoded(original)
    marked = mark(original, "circle", "red", 8, 11)
    answer = encoded(Image.new("RGB", small, (0, 255, 255)))
    async with GeminiFake() as fake:
        fake.script(Reply.image(result), Reply.image(answer), Reply.image(answer))
        async with open_engine(make_settings(tmp_path / "data", fake)) as engine:
            first = RecordingOutbox()
            await engine.handle(request("a park"), first)
            edit = RecordingOutbox()
            await engine.handle(
                request("make this a window", marked.data, reply_to=first.posted[-1]), edit
            )
            card = edit.cards[-1]
            [whole] = [b for b in card.buttons if b.label == "Whole image"]
            pressed = RecordingReply()
            await engine.press(whole.payload, CHAT, ALICE, pressed)
            again = RecordingOutbox()
            await engine.retry(CHAT, ALICE, edit.success.model_turn_id, again)
            [variations] = [b for b in card.buttons if b.label == "Variations"]
            fake.script(*(Reply.image(answer) for _ in range(3)))
            several = RecordingReply()
            await engine.press(variations.payload, CHAT, ALICE, several)
    sent = fake.requests[1]
    assert sent.contents[-2].parts[-1].image == result  # the clean original, from the lineage
    new_images = [p.image for p in sent.contents[-1].parts if p.image is not None]
    assert len(new_images) == 1 and new_images[0] != marked.data  # the guide, not the copy
    guide = pixels(new_images[0])
    assert guide.size == small
    assert sent.contents[-1].parts[-1].text == REGION_INSTRUCTION.format(
        instruction="make this a window"
    )
    delivered = pixels(edit.success.images[0].data)
    assert delivered.getpixel((5, 5)) == original.getpixel((5, 5))  # far corner: untouched
    assert "Region edit" in " ".join(card.notes)
    assert pressed.steps.success.images[0].data == answer  # Whole image: the model's own
    # Retry repeats the region edit: blended again.
    assert pixels(again.success.images[0].data).getpixel((5, 5)) == original.getpixel((5, 5))
    # Variations repeat it too: every variant blended.
    for image in several.steps.success.images:
        assert pixels(image.data).getpixel((5, 5)) == original.getpixel((5, 5))
    assert len(fake.requests) == 6
    # No picture sent shows the user's strokes: sample a pixel of the drawn loop.
    drawn = pixels(marked.data)
    stroke = next(
        (x, y)
        for y in range(0, small[1], 3)
        for x in range(0, small[0], 3)
        if drawn.getpixel((x, y))[0] > 200
        and drawn.getpixel((x, y))[1] < 80
        and original.getpixel((x, y))[0] < 180
    )
    for sent_image in sent.images:
        r, g, b = pixels(sent_image).getpixel(stroke)
        assert not (r > 200 and g < 80 and b < 80), "a stroke reached the model"


# -- both platforms ------------------------------------------------------------------------

LARGE_BODY = "ignore:Sending a large body:ResourceWarning"


def a_region_case() -> tuple[Image.Image, bytes, bytes, bytes]:
    """An original the model "made", a marked copy of it, and the model's region answer."""
    small = (800, 600)
    original = photo_like(small, 21)
    marked = mark(original, "circle", "blue", 8, 21)
    answer = encoded(Image.new("RGB", small, (255, 200, 0)))
    return original, encoded(original), marked.data, answer


@pytest.mark.filterwarnings(LARGE_BODY)
async def test_region_edit_on_telegram_with_whole_image_and_retry_after_a_restart(
    tmp_path: Path,
) -> None:
    original, result, marked, answer = a_region_case()
    async with TelegramFake() as tg, GeminiFake() as gemini:
        gemini.script(Reply.image(result), Reply.image(answer), Reply.image(answer))
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path, gemini, tg)
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, text="a park")
            first = bot.posted(await bot.reply_to(sent))
            edit = tg.send_user_message(
                chat, alice, photo=marked, caption="make this a window", reply_to=first
            )
            edited_call = await bot.reply_to(edit)
            edited = bot.posted(edited_call)
        async with running_bot(tg, settings) as bot:  # a new process
            tg.press_button(chat, alice, edited, button(edited, "Whole image"))
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 3, timeout=15)
            tg.press_button(chat, alice, edited, button(edited, "Retry"))
            await tg.wait_for(lambda: len(tg.calls_of("sendPhoto")) == 4, timeout=15)
    photos = tg.calls_of("sendPhoto")
    region_request = gemini.requests[1]
    assert marked not in region_request.images  # the guide went, never the marked copy
    assert region_request.contents[-2].parts[-1].image == result
    blended = pixels(photos[1].upload("photo"))
    assert blended.getpixel((3, 3)) == original.getpixel((3, 3))
    assert "Region edit" in str(photos[1].params["caption"])
    assert photos[2].upload("photo") == answer  # Whole image: the model's own picture
    retried = pixels(photos[3].upload("photo"))
    assert retried.getpixel((3, 3)) == original.getpixel((3, 3))  # Retry: a region edit again
    assert len(gemini.requests) == 3


@pytest.mark.filterwarnings(LARGE_BODY)
async def test_region_edit_on_discord_by_a_reply_with_the_marked_picture(
    tmp_path: Path, dc: DiscordFake
) -> None:
    original, result, marked, answer = a_region_case()
    async with GeminiFake() as gemini:
        gemini.script(Reply.image(result), Reply.image(answer))
        settings = bot_settings(tmp_path, gemini, dc)
        async with serving(settings) as engine:
            inter = await dc.slash_command("imagine", {"prompt": "a park"})
            [first] = await dc.wait_for_followup(inter)
            await until_linked(engine, dc.channel_id, first)
            await dc.user_message(
                content="make this a window",
                attachments=[dc.add_attachment(marked, "marked.jpg")],
                reply_to=first,
            )
            posted = await bot_messages(dc, dc.channel_id, 2, with_files=True)
            edited = posted[-1]  # after the /imagine result
        async with serving(settings):
            whole = next(i for i in button_ids(edited) if i.startswith("bb2:w:"))
            press = await dc.press_button(edited, whole)
            [unblended] = await dc.wait_for_followup(press)
            gemini.script(Reply.image(answer))
            retry = next(i for i in button_ids(edited) if i.startswith("bb2:r:"))
            again = await dc.press_button(edited, retry)
            [retried] = await dc.wait_for_followup(again)
    assert marked not in gemini.requests[1].images
    [shown] = attachment_bytes(dc, edited)
    assert pixels(shown).getpixel((3, 3)) == original.getpixel((3, 3))
    assert "Whole image" in button_labels(edited)
    assert attachment_bytes(dc, unblended) == [answer]
    [redone] = attachment_bytes(dc, retried)
    assert pixels(redone).getpixel((3, 3)) == original.getpixel((3, 3))  # a region edit again


def test_the_readme_example_is_drawn_by_the_bot_and_keeps_the_sky(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parent.parent / "docs" / "region_example.py"
    spec = importlib.util.spec_from_file_location("region_example", script)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    drawn = example.main(tmp_path / "example.png")
    with Image.open(drawn) as sheet:
        assert sheet.width > sheet.height > 200
    # A flat drawing's sharp colour edges, smeared by JPEG, are no strokes: only the loop is.
    before = example.scene()
    found = marking.find_marking(example.png(before), example.marked_copy(before))
    assert found is not None
    assert found.mask.getpixel((770, 100)) == 0  # the sun
    assert found.mask.getpixel((450, 160)) == 0  # the roof's peak
    assert found.mask.getpixel((362, 305)) == 255  # inside the loop


@pytest.mark.filterwarnings(LARGE_BODY)
async def test_a_marked_picture_sent_first_becomes_a_region_edit_with_the_next_words(
    tmp_path: Path,
) -> None:
    original, result, marked, answer = a_region_case()
    async with GeminiFake() as fake:
        fake.script(Reply.image(result), Reply.image(answer))
        async with open_engine(make_settings(tmp_path / "data", fake)) as engine:
            first = RecordingOutbox()
            await engine.handle(request("a park"), first)
            held = RecordingOutbox()
            await engine.handle(request("", marked, reply_to=first.posted[-1]), held)
            edit = RecordingOutbox()
            await engine.handle(request("make this a window", continue_latest=True), edit)
    assert held.failure.message.startswith("Got your picture.")
    assert marked not in fake.requests[1].images
    assert fake.requests[1].contents[-2].parts[-1].image == result
    delivered = pixels(edit.success.images[0].data)
    assert delivered.getpixel((3, 3)) == original.getpixel((3, 3))
    assert edit.success.region

"""/history: one storyboard picture of a result's path, in the core and on both platforms."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from PIL import Image

from bot import history, storyboard
from bot.app import open_engine
from bot.iteration import (
    REFRAME_INSTRUCTION,
    UPSCALE_INSTRUCTION,
    ZOOM_OUT_INSTRUCTION,
    caption_of,
)
from bot.request import Author
from tests.conftest import ALICE, CHAT, RecordingOutbox, make_settings, photo, request
from tests.discord_harness import bot_settings, ephemeral_answer, serving
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.telegram import TelegramFake
from tests.telegram_harness import running_bot, telegram_settings

RED, GREEN, BLUE, YELLOW = (220, 20, 20), (20, 200, 20), (20, 20, 220), (230, 230, 20)


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (96, 96)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def opened(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.convert("RGB")


def cell_colours(board: Image.Image, count: int) -> list[tuple[int, int, int]]:
    """The colour at the centre of each of the first `count` thumbnails."""
    layout = storyboard.grid(count)
    assert board.size == layout.size
    colours = []
    for index in range(count):
        x, y = layout.origin(index)
        pixel = board.getpixel((x + layout.side // 2, y + layout.side // 2))
        assert isinstance(pixel, tuple)
        colours.append((pixel[0], pixel[1], pixel[2]))
    return colours


def near(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 24 for x, y in zip(a, b, strict=True))  # JPEG moves colours a bit


# -- the picture ----------------------------------------------------------------------------


def test_the_caption_face_draws_chinese_japanese_and_korean() -> None:
    face = storyboard.font(storyboard.FONT_PX)
    for glyph in ("猫", "換", "の", "한", "é"):
        assert face.getmask(glyph).getbbox() is not None, glyph


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 12, 31, 40, 51])
def test_every_grid_fits_the_photo_limit_and_keeps_its_cells_apart(count: int) -> None:
    layout = storyboard.grid(count)
    width, height = layout.size
    assert max(width, height) <= storyboard.MAX_SIDE < 2048  # one Telegram photo, no file
    assert layout.columns * layout.rows >= count > layout.columns * (layout.rows - 1)
    assert layout.side >= 200  # a thumbnail that still shows what changed
    last_x, last_y = layout.origin(count - 1)
    assert last_x + layout.side <= width and last_y + layout.side <= height
    if count > 1:
        (x0, y0), (x1, y1) = layout.origin(0), layout.origin(1)
        assert x1 - x0 > layout.side or y1 - y0 > layout.side + storyboard.CAPTION_PX


def test_captions_wrap_at_spaces_and_between_cjk_characters_and_end_in_an_ellipsis() -> None:
    face = storyboard.font(storyboard.FONT_PX)
    width = 200
    english = storyboard.wrap("make the sky a warm sunset and add a cat " * 4, face, width, 3)
    assert len(english) == 3 and english[-1].endswith("…")
    assert all(face.getlength(line) <= width for line in english)
    assert english[0].split() == english[0].split(" ")  # broke at a space, not inside a word
    chinese = storyboard.wrap(
        "把天空换成温暖的日落，在长椅左边加一只小猫，整体色调更温暖", face, width, 3
    )
    assert len(chinese) >= 2 and "".join(chinese).startswith("把天空换成")
    assert not any(line.startswith("，") for line in chinese)  # punctuation stays with its word
    long_word = storyboard.wrap("x" * 200, face, width, 2)
    assert len(long_word) == 2 and all(face.getlength(line) <= width for line in long_word)
    assert storyboard.wrap("fire 🔥 emoji", face, width, 3) == ["fire emoji"]  # no tofu boxes


def test_one_tap_steps_are_captioned_by_their_button() -> None:
    assert caption_of(ZOOM_OUT_INSTRUCTION, "en") == "Zoom out"
    assert caption_of(UPSCALE_INSTRUCTION, "zh-Hans") == "高清放大"
    assert caption_of(REFRAME_INSTRUCTION.format(ratio="16:9"), "en") == "Reframe 16:9"
    assert caption_of("make it 16:9", "en") == "make it 16:9"


# -- the engine ------------------------------------------------------------------------------


async def test_history_draws_the_replied_results_branch_in_order(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        fake.script(Reply.image(solid(RED)), Reply.image(solid(GREEN)), Reply.image(solid(BLUE)))
        settings = make_settings(tmp_path / "data", fake)
        blocked = dataclasses.replace(settings.access, blocked_users=("mallory",))
        async with open_engine(dataclasses.replace(settings, access=blocked)) as engine:
            first = RecordingOutbox()
            await engine.handle(request("make it red", photo(YELLOW)), first)
            second = RecordingOutbox()
            await engine.handle(request("now green", reply_to=first.posted[-1]), second)
            branch = RecordingOutbox()  # a reply to the older result branches from it
            await engine.handle(request("blue instead", reply_to=first.posted[-1]), branch)
            card = await engine.history(CHAT, ALICE, branch.posted[-1], latest=False)
            latest = await engine.history(CHAT, ALICE, None, latest=True)
            nothing = await engine.history(CHAT, ALICE, None, latest=False)
            denied = await engine.history(CHAT, Author("mallory"), branch.posted[-1], latest=True)
    assert card.text == "How this result came about: 2 edits."
    [picture] = card.images
    assert picture.mime_type == "image/jpeg"
    colours = cell_colours(opened(picture.data), 3)  # the start, then the branch's two results
    assert [near(c, want) for c, want in zip(colours, (YELLOW, RED, BLUE), strict=True)] == [
        True,
        True,
        True,
    ]
    assert latest.images == card.images  # the chat's latest result is the branch's
    assert nothing.text.startswith("I found no result of mine there.") and not nothing.images
    assert denied.text.startswith("Sorry, you are not allowed") and not denied.images


async def test_history_is_cached_per_turn_and_decodes_only_new_pictures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    real = storyboard.thumbnail

    def counting(data: bytes) -> bytes:
        made.append(len(data))
        return real(data)

    monkeypatch.setattr(storyboard, "thumbnail", counting)
    async with (
        GeminiFake() as fake,
        open_engine(make_settings(tmp_path / "data", fake)) as engine,
    ):
        first = RecordingOutbox()
        await engine.handle(request("a cat", photo()), first)
        second = RecordingOutbox()
        await engine.handle(request("a hat", reply_to=first.posted[-1]), second)
        drawn = await engine.history(CHAT, ALICE, second.posted[-1], latest=False)
        after_first = len(made)
        again = await engine.history(CHAT, ALICE, second.posted[-1], latest=False)
        after_again = len(made)
        third = RecordingOutbox()
        await engine.handle(request("a scarf", reply_to=second.posted[-1]), third)
        grown = await engine.history(CHAT, ALICE, third.posted[-1], latest=False)
    assert after_first == 3  # the photo and two results
    assert after_again == 3 and again.images == drawn.images  # the same board, not redrawn
    assert len(made) == 4  # one step later, only its result is decoded
    assert grown.text == "How this result came about: 3 edits."


async def test_a_long_path_shows_its_last_edits_with_their_real_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_EDITS", 3)
    async with (
        GeminiFake() as fake,
        open_engine(make_settings(tmp_path / "data", fake)) as engine,
    ):
        outbox = RecordingOutbox()
        await engine.handle(request("step 1", photo()), outbox)
        for n in range(2, 6):
            await engine.handle(request(f"step {n}", reply_to=outbox.posted[-1]), outbox)
        card = await engine.history(CHAT, ALICE, outbox.posted[-1], latest=False)
        chinese = await engine.history(
            CHAT, Author("li", locale="zh-CN"), outbox.posted[-1], latest=False
        )
    assert card.text == "How this result came about: 5 edits."
    assert card.notes == ("Showing the last 3 of 5 edits.",)
    assert opened(card.images[0].data).size == storyboard.grid(4).size  # the start and three
    assert chinese.text == "这张结果的来历：共 5 步编辑。"
    assert chinese.images != card.images  # captions in the reader's language


async def test_a_picture_the_store_lost_is_drawn_as_a_placeholder(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        fake.script(Reply.image(solid(RED)))
        settings = make_settings(tmp_path / "data", fake)
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("red", photo(YELLOW)), outbox)
        for stored in (tmp_path / "data").rglob("*"):
            if stored.is_file() and stored.read_bytes() == fake.requests[0].result_image:
                stored.unlink()
        async with open_engine(settings) as engine:
            card = await engine.history(CHAT, ALICE, outbox.posted[-1], latest=False)
    start, result = cell_colours(opened(card.images[0].data), 2)
    assert near(start, YELLOW) and near(result, storyboard.WELL)


# -- the platforms ---------------------------------------------------------------------------


async def test_history_on_telegram_replies_with_one_photo_also_after_a_restart(
    tmp_path: Path,
) -> None:
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        settings = telegram_settings(tmp_path / "tg", gemini, tg)
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="a cat")
            first = bot.posted(await bot.reply_to(sent))
            more = tg.send_user_message(chat, alice, text="add a hat", reply_to=first)
            second = bot.posted(await bot.reply_to(more))
            asked = tg.send_user_message(chat, alice, text="/history", reply_to=first)
            of_first = await bot.reply_to(asked, "sendPhoto", linked=False)
        async with running_bot(tg, settings) as bot:
            latest = tg.send_user_message(chat, alice, text="/history")
            of_latest = await bot.reply_to(latest, "sendPhoto", linked=False)
            group = tg.group(-7, "Friends")
            lost = tg.send_user_message(group, alice, text="/history")
            hint = await bot.reply_to(lost, "sendMessage", linked=False)
    assert of_first.params["caption"] == "How this result came about: 1 edit."
    assert opened(of_first.upload("photo")).size == storyboard.grid(2).size
    assert of_latest.params["caption"] == "How this result came about: 2 edits."
    assert opened(of_latest.upload("photo")).size == storyboard.grid(3).size
    assert not tg.calls_of("sendDocument")  # the board fits a photo: no extra file
    assert hint.params["text"].startswith("I found no result of mine there.")
    assert second["message_id"] != first["message_id"]
    commands = [c["command"] for c in tg.calls_of("setMyCommands")[0].params["commands"]]
    assert "history" in commands


async def test_history_on_discord_by_link_by_menu_and_refused_privately(
    tmp_path: Path, dc: DiscordFake
) -> None:
    async with GeminiFake() as gemini, serving(bot_settings(tmp_path / "dc", gemini, dc)):
        empty = await dc.slash_command("history")
        refused = await ephemeral_answer(dc, empty)
        first = await dc.slash_command("imagine", {"prompt": "a lemon tree"})
        [result] = await dc.wait_for_followup(first)
        link = f"https://discord.com/channels/{first.guild_id}/{first.channel_id}/{result['id']}"
        by_link = await dc.slash_command("history", {"message": link})
        [board] = await dc.wait_for_followup(by_link)
        by_menu = await dc.message_context_menu("History", result)
        [from_menu] = await dc.wait_for_followup(by_menu)
    assert refused["content"].startswith("I found no result of mine there.")
    assert board["content"] == "How this result came about: 1 edit."
    [attachment] = board["attachments"]
    assert attachment["filename"] == f"history-{2}.jpg"
    picture = dc.attachment_bytes(attachment)
    assert opened(picture).size == storyboard.grid(1).size  # /imagine: no starting picture
    assert from_menu["content"] == board["content"]
    assert dc.attachment_bytes(from_menu["attachments"][0]) == picture  # cached, not redrawn
    assert {"history", "History"} <= {c["name"] for c in dc.global_commands}

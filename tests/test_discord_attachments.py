"""Files that are not pictures are refused clearly; forwarded pictures count like attached ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.request import Author, ChatKey
from tests.discord_harness import (
    Json,
    attachment_bytes,
    bot_messages,
    bot_settings,
    png,
    serving,
    texts_of,
    until_linked,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake

NOT_AN_IMAGE = "That file is not an image I can read."
NOT_PICTURES = [
    ("plan.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"),
    ("notes.txt", b"make the sky bluer\n"),
    ("IMG_0042.dng", b"II*\x00\x08\x00\x00\x00" + bytes(512)),  # camera RAW (TIFF-based)
]


async def nothing_charged(engine: object, dc: DiscordFake) -> bool:
    usage = await engine.usage_text(  # type: ignore[attr-defined]
        ChatKey("discord", str(dc.channel_id), None, str(dc.guild_id)),
        Author(str(dc.user_id), "Alice", "en"),
    )
    return "made 0 images" in usage


def reply_to(message: Json) -> str | None:
    return (message.get("message_reference") or {}).get("message_id")


@pytest.mark.parametrize(("filename", "data"), NOT_PICTURES)
async def test_a_mention_with_only_a_file_that_is_no_picture_is_refused_not_imagined(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, filename: str, data: bytes
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        asked = await dc.user_message(
            content="make the sky bluer",
            attachments=[dc.add_attachment(data, filename)],
            mentions_bot=True,
        )
        [answer] = await bot_messages(dc, dc.channel_id, 1)
        assert await nothing_charged(engine, dc)

    assert answer["content"].startswith(NOT_AN_IMAGE)
    assert reply_to(answer) == asked["id"]
    assert gemini.requests == []
    assert dc.cdn_downloads == []


async def test_a_file_that_is_no_picture_in_a_dm_or_a_reply_is_refused_too(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dm = dc.dm_channel_id
    async with serving(bot_settings(tmp_path / "data", gemini, dc)) as engine:
        await dc.user_message(dm, attachments=[dc.add_attachment(b"%PDF-1.7", "a.pdf")])
        [dm_answer] = await bot_messages(dc, dm, 1)
        inter = await dc.slash_command("imagine", {"prompt": "a lighthouse"})
        [result] = await dc.wait_for_followup(inter)
        await until_linked(engine, dc.channel_id, result)
        before = len(dc.sent_messages(dc.channel_id))
        await dc.user_message(
            content="use this palette",
            attachments=[dc.add_attachment(b"red, teal", "palette.txt")],
            reply_to=result,
        )
        *_, reply_answer = await bot_messages(dc, dc.channel_id, before + 1)

    assert dm_answer["content"].startswith(NOT_AN_IMAGE)
    assert reply_answer["content"].startswith(NOT_AN_IMAGE)
    assert len(gemini.requests) == 1  # only /imagine reached the model


async def test_a_picture_with_a_file_that_is_no_picture_is_refused_like_edit_does(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        await dc.user_message(
            content="put the logo from the pdf on it",
            attachments=[
                dc.add_attachment(png(), "photo.png"),
                dc.add_attachment(b"%PDF", "l.pdf"),
            ],
            mentions_bot=True,
        )
        [answer] = await bot_messages(dc, dc.channel_id, 1)
        edit = await dc.slash_command(
            "edit",
            {
                "image": dc.add_attachment(png(), "photo.png"),
                "prompt": "put the logo on it",
                "image2": dc.add_attachment(b"%PDF", "l.pdf"),
            },
        )
        await dc.wait_for(lambda: edit.callbacks or None)

    assert answer["content"].startswith(NOT_AN_IMAGE)
    assert edit.callbacks[0]["data"]["content"].startswith(NOT_AN_IMAGE)
    assert gemini.requests == []


async def test_a_picture_forwarded_in_a_dm_is_held_and_then_edited(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dm = dc.dm_channel_id
    photo = png((10, 160, 60))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        bob = dc.add_user("bob")
        origin = await dc.user_message(
            author=bob, content="my garden", attachments=[dc.add_attachment(photo, "garden.png")]
        )
        await dc.user_message(dm, forward=origin)
        [held] = await bot_messages(dc, dm, 1)
        await dc.user_message(dm, content="add flowers")
        [_, result] = await bot_messages(dc, dm, 2)

    assert held["content"] == "Got your picture. Now tell me what to do with it."
    [request] = gemini.requests
    assert request.images == [photo]
    assert texts_of(request) == [("user", ["add flowers"])]
    assert attachment_bytes(dc, result) == [request.result_image]


async def test_a_picture_forwarded_with_a_mention_is_edited(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    photo = png((200, 200, 10))
    async with serving(bot_settings(tmp_path / "data", gemini, dc)):
        bob = dc.add_user("bob")
        origin = await dc.user_message(
            author=bob, content="sunset", attachments=[dc.add_attachment(photo, "sun.png")]
        )
        asked = await dc.user_message(content="make it dusk", mentions_bot=True, forward=origin)
        [result] = await bot_messages(dc, dc.channel_id, 1, with_files=True)

    [request] = gemini.requests
    assert request.images == [photo]
    assert texts_of(request) == [("user", ["make it dusk"])]
    assert reply_to(result) == asked["id"]

"""What a message continues is decided once, in the engine, for every platform."""

from __future__ import annotations

from dataclasses import replace

from bot.engine import Engine
from bot.request import ImageSource
from tests.conftest import RecordingOutbox, photo, request
from tests.fakes.gemini import GeminiFake

RED, BLUE = photo((220, 20, 20)), photo((20, 20, 220))


def never_fetched() -> ImageSource:
    async def fetch() -> bytes:
        raise AssertionError("the replied message shows a turn: its pictures are not needed")

    return ImageSource(fetch, 1000, "image/jpeg", "replied.jpg")


async def test_reply_to_a_message_the_bot_never_saw_uses_its_pictures_first(
    engine: Engine, gemini: GeminiFake
) -> None:
    asked = replace(
        request("put the blue one on the red one", BLUE, reply_to="someone-elses-photo"),
        reply_images=(ImageSource.from_bytes(RED, "image/jpeg"),),
    )
    await engine.handle(asked, RecordingOutbox())
    (content,) = gemini.requests[-1].contents
    assert [(p.image, p.text) for p in content.parts] == [
        (RED, None),
        (BLUE, None),
        (None, "put the blue one on the red one"),
    ]


async def test_reply_to_a_result_continues_it_without_fetching_the_replied_pictures(
    engine: Engine, gemini: GeminiFake
) -> None:
    outbox = RecordingOutbox()
    await engine.handle(request("make it blue", RED), outbox)
    follow = replace(
        request("now add a hat", reply_to=outbox.posted[-1]), reply_images=(never_fetched(),)
    )
    await engine.handle(follow, outbox)
    assert [c.role for c in gemini.requests[-1].contents] == ["user", "model", "user"]


async def test_new_pictures_start_fresh_even_where_text_continues(
    engine: Engine, gemini: GeminiFake
) -> None:
    outbox = RecordingOutbox()
    await engine.handle(request("a red apple", RED, continue_latest=True), outbox)
    await engine.handle(request("now a pear", BLUE, continue_latest=True), outbox)
    assert [c.role for c in gemini.requests[-1].contents] == ["user"]
    await engine.handle(request("make it shiny", continue_latest=True), outbox)
    assert [c.role for c in gemini.requests[-1].contents] == ["user", "model", "user"]

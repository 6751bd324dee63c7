"""Conversations through the console adapter against the Gemini fake.

The fake records every request; each must carry exactly the interleaved path from the root to
the replied-to result: user image + text, the model's turn as it was received (thought parts,
signatures, byte-identical images), the next user text, and so on, also after a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.console import CHAT, ConsoleThread
from bot.app import open_engine
from tests.conftest import make_settings, photo
from tests.fakes.gemini import GeminiFake, RecordedContent, RecordedRequest, parse_contents

GEMINI3 = "gemini-3-pro-image-preview"


def answered(req: RecordedRequest) -> RecordedContent:
    """The model turn the fake sent back for `req`, as a later request replays it: decoded
    like a request content, thought summaries (unsigned thought parts) left out."""
    content = parse_contents([req.answer_content])[0]
    kept = [p for p in content.parts if not p.thought or p.thought_signature is not None]
    return RecordedContent(content.role, kept)


def user_turn(*parts: Any) -> list[tuple[str | None, bytes | None]]:
    return [(p, None) if isinstance(p, str) else (None, p) for p in parts]


def shape(content: RecordedContent) -> list[tuple[Any, ...]]:
    """Everything that must survive a replay, part by part."""
    return [(p.text, p.image, p.mime_type, p.thought, p.thought_signature) for p in content.parts]


def assert_path(req: RecordedRequest, expected: list[Any]) -> None:
    """`expected` alternates user turns (lists of text/bytes) and model answers (requests)."""
    assert len(req.contents) == len(expected)
    for content, want in zip(req.contents, expected, strict=True):
        if isinstance(want, RecordedRequest):
            assert content.role == "model"
            assert shape(content) == shape(answered(want))
        else:
            assert content.role == "user"
            assert [(p.text, p.image) for p in content.parts] == user_turn(*want)


class Console:
    """A console thread whose output lines are kept for assertions."""

    def __init__(self, thread_factory: Any) -> None:
        self.lines: list[str] = []
        self.thread: ConsoleThread = thread_factory(self.lines.append)

    async def say(self, line: str) -> list[str]:
        start = len(self.lines)
        assert await self.thread.handle_line(line)
        # Status lines ("… Draft: ...") come and go with the model's thinking.
        return [line for line in self.lines[start:] if not line.startswith("… ")]


async def test_edit_refine_branch_restart_continue(tmp_path: Path) -> None:
    original = photo((10, 120, 200), (80, 60))
    (tmp_path / "cat.jpg").write_bytes(original)
    out = tmp_path / "out"
    async with GeminiFake(gemini3=True) as fake:
        settings = make_settings(tmp_path / "data", fake, model=GEMINI3)
        async with open_engine(settings) as engine:
            console = Console(lambda write: ConsoleThread(engine, out, write))
            await console.say(f"/img {tmp_path / 'cat.jpg'}")
            lines = await console.say("make it blue")
            assert lines[0] == f"[1] {out / 'result-1.png'}"
            await console.say("add a hat")
            await console.say("make it night")
            lines = await console.say("/reply 1 make it red instead")
            assert lines[0].startswith("[4] ")

        # Restart: a new engine over the same data directory.
        async with open_engine(settings) as engine:
            console = Console(lambda write: ConsoleThread(engine, out, write))
            lines = await console.say("/reply 4 add snow")
            assert lines[0].startswith("[5] ")
            await console.say("and a snowman")  # plain text continues from the latest result

    r1, r2, r3, r4, r5, r6 = fake.requests
    assert all(r.response_status == 200 for r in fake.requests)
    assert_path(r1, [[original, "make it blue"]])
    assert_path(r2, [[original, "make it blue"], r1, ["add a hat"]])
    assert_path(r3, [[original, "make it blue"], r1, ["add a hat"], r2, ["make it night"]])
    # The branch from result 1 does not see results 2 and 3.
    assert_path(r4, [[original, "make it blue"], r1, ["make it red instead"]])
    # After the restart the branch continues with signatures and images byte-identical.
    assert_path(r5, [[original, "make it blue"], r1, ["make it red instead"], r4, ["add snow"]])
    assert_path(
        r6,
        [
            [original, "make it blue"],
            r1,
            ["make it red instead"],
            r4,
            ["add snow"],
            r5,
            ["and a snowman"],
        ],
    )
    signed = [p.thought_signature for p in r6.contents[3].parts if p.thought_signature]
    assert signed and all(s in fake.issued_signatures for s in signed)
    # What the user got on disk is exactly what the model sent.
    assert (out / "result-5.png").read_bytes() == r5.result_image
    assert (out / "result-1.png").read_bytes() == r1.result_image


async def test_retry_makes_a_sibling_and_new_starts_over(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(photo())
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake)
        async with open_engine(settings) as engine:
            console = Console(lambda write: ConsoleThread(engine, tmp_path / "out", write))
            await console.say(f"/img {tmp_path / 'a.jpg'}")
            await console.say("make it blue")
            lines = await console.say("/retry")
            assert lines[0].startswith("[2] ")
            # Both variants answer the same user turn: the requests are identical.
            assert fake.requests[0].contents == fake.requests[1].contents
            # The next plain text continues from the newest variant.
            await console.say("brighter")
            assert shape(fake.requests[2].contents[1]) == shape(answered(fake.requests[1]))
            await console.say("/new")
            await console.say("a banana on the moon")
            assert [c.role for c in fake.requests[3].contents] == ["user"]
            assert fake.requests[3].contents[0].parts[0].text == "a banana on the moon"
            latest = await engine.latest_turn(CHAT)
            assert latest is not None and latest.role.value == "model"


async def test_console_reports_unknown_result_and_missing_file(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake)
        async with open_engine(settings) as engine:
            console = Console(lambda write: ConsoleThread(engine, tmp_path / "out", write))
            assert await console.say("/reply 9 hello") == ["! there is no result 9"]
            assert await console.say("/img /nonexistent.png") == [
                "! no such file: /nonexistent.png"
            ]
            assert await console.say("/retry") == ["! nothing to retry yet"]
            assert not await console.thread.handle_line("/quit")
    assert fake.requests == []

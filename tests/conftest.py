"""Shared fixtures: a Gemini fake, settings pointing at it, an engine, an in-memory outbox."""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import types
from PIL import Image

from bot.app import open_engine
from bot.cards import Card
from bot.config import Settings, parse_settings
from bot.engine import Engine
from bot.outcome import Failure, Outcome, Success
from bot.request import Author, ChatKey, EditRequest, ImageSource
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.postgres_server import postgres_server


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB warns when it builds RetryAfter unless this is set; warnings are errors here."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def gemini() -> AsyncIterator[GeminiFake]:
    async with GeminiFake() as fake:
        yield fake


MakeClient = Callable[..., genai.Client]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Real SDK clients as the bot builds them: v1beta, ms timeout, no SDK retries."""
    clients: list[genai.Client] = []

    def make(base_url: str, timeout_ms: int = 5000) -> genai.Client:
        client = genai.Client(
            api_key="test-key",
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version="v1beta",
                timeout=timeout_ms,
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aio.aclose()


@pytest.fixture
async def dc() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as fake:
        yield fake


def make_settings(data_dir: Path, fake: GeminiFake, **gemini: Any) -> Settings:
    """Settings for tests: fast retries, short timeouts, the fake as Gemini."""
    section: dict[str, Any] = {
        "api_key": "test-key-123",
        "base_url": fake.base_url,
        "timeout_s": 5.0,
        "retry_backoff_s": 0.01,
        # What the tests were written for; tests of thinking models say so.
        "model": "gemini-2.5-flash-image",
    }
    section.update(gemini)
    return parse_settings({"gemini": section, "storage": {"data_dir": str(data_dir)}}, env={})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One real PostgreSQL server for the whole run; tests take databases of their own."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, gemini: GeminiFake) -> Settings:
    return make_settings(tmp_path / "data", gemini)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with open_engine(settings) as engine:
        yield engine


class RecordingOutbox:
    """The in-memory test adapter: remembers what the engine posted, numbers the messages."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.cards: list[Card] = []
        self.statuses: list[Card] = []
        self.posted: list[str] = []

    async def status(self, card: Card) -> None:
        self.statuses.append(card)

    async def deliver(self, card: Card) -> Sequence[str]:
        message_id = f"bot-{next(_ids)}"
        assert card.outcome is not None
        self.cards.append(card)
        self.outcomes.append(card.outcome)
        self.posted.append(message_id)
        return [message_id]

    @property
    def last(self) -> Outcome:
        return self.outcomes[-1]

    @property
    def success(self) -> Success:
        assert isinstance(self.last, Success), self.last
        return self.last

    @property
    def failure(self) -> Failure:
        assert isinstance(self.last, Failure), self.last
        return self.last


# The buttons under a one-image result, as a model without sizes offers them; with sizes,
# Upscale comes before Info.
RESULT_ACTIONS = ["Retry", "Original", "Variations", "Zoom out", "Reframe", "Info"]
SIZED_RESULT_ACTIONS = [*RESULT_ACTIONS[:-1], "Upscale", "Info"]

# Message ids only need to be unique within a chat; one counter serves every test.
_ids = itertools.count(1)
CHAT = ChatKey("test", "chat-1")
ALICE = Author("alice", "Alice", "en")


def photo(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    """A small valid JPEG."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def request(
    text: str,
    *images: bytes,
    reply_to: str | None = None,
    chat: ChatKey = CHAT,
    author: Author = ALICE,
    continue_latest: bool = False,
) -> EditRequest:
    """A user message as an adapter would hand it over."""
    return EditRequest(
        chat=chat,
        author=author,
        message_id=f"user-{next(_ids)}",
        text=text,
        images=tuple(
            ImageSource.from_bytes(i, "image/jpeg", f"{n}.jpg") for n, i in enumerate(images)
        ),
        reply_to=reply_to,
        continue_latest=continue_latest,
    )

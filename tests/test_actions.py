"""Actions are declared once in the core: payloads, which cards offer them, who may press them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from bot import messages
from bot.actions import (
    MAX_PAYLOAD_BYTES,
    PAYLOAD_REGEX,
    Action,
    ActionRegistry,
    Button,
    PressContext,
    pack,
    unpack,
)
from bot.engine import Engine
from bot.outcome import Failure, FailureKind, ResultImage, Success
from bot.request import Author
from bot.standard_actions import STANDARD_ACTIONS
from tests.conftest import ALICE, CHAT, RESULT_ACTIONS, RecordingOutbox, photo, request
from tests.fakes.gemini import GeminiFake

BOB = Author("bob", "Bob", "zh-CN")


class RecordingReply:
    """The test adapter's way of answering presses."""

    def __init__(self) -> None:
        self.acknowledged = 0
        self.finished = 0
        self.notices: list[str] = []
        self.files: list[tuple[Sequence[ResultImage], str, str]] = []
        self.replaced: list[str] = []
        self.steps = RecordingOutbox()
        self.chat_admin = False
        self.choices: list[tuple[str, list[Button]]] = []

    async def acknowledge(self) -> None:
        self.acknowledged += 1

    async def notify(self, text: str) -> None:
        self.notices.append(text)

    async def outbox(self) -> RecordingOutbox:
        return self.steps

    async def send_files(self, images: Sequence[ResultImage], caption: str, stem: str) -> None:
        self.files.append((images, caption, stem))

    async def replace(self, text: str) -> None:
        self.replaced.append(text)

    async def choose(self, prompt: str, options: Sequence[Button]) -> None:
        self.choices.append((prompt, list(options)))

    async def presser_is_chat_admin(self) -> bool:
        return self.chat_admin

    async def finish(self) -> None:
        self.finished += 1


@pytest.mark.parametrize(
    ("payload", "code", "arg"),
    [
        ("bb2:r:12", "r", "12"),
        ("r:12", "r", "12"),  # Telegram buttons posted before payloads were versioned
        ("o:7", "o", "7"),
        ("f:4242", "f", "4242"),
        ("bb:retry:12", "r", "12"),  # Discord's earlier custom ids
        ("bb:original:7", "o", "7"),
        ("bb:forget:99", "f", "99"),
    ],
)
def test_payloads_of_this_and_earlier_versions_decode(payload: str, code: str, arg: str) -> None:
    press = unpack(payload)
    assert press is not None and (press.code, press.arg) == (code, arg)
    assert re.fullmatch(PAYLOAD_REGEX, payload)


@pytest.mark.parametrize("payload", ["", "s:k:model", "x:1", "r:", "r:1a", "bb2:R:1", "bb:zoom:1"])
def test_foreign_payloads_are_not_actions(payload: str) -> None:
    assert unpack(payload) is None


def test_payloads_fit_telegram_and_refuse_to_overflow() -> None:
    biggest = 2**63 - 1  # a snowflake or a turn id can never be larger
    registry = ActionRegistry(STANDARD_ACTIONS)
    for action in registry:
        payload = registry.button(action, biggest, "en").payload
        assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
        assert unpack(payload) is not None
    with pytest.raises(ValueError, match="not a valid action payload"):
        pack("r", "9" * 64)


def test_registry_refuses_a_code_twice() -> None:
    registry = ActionRegistry(STANDARD_ACTIONS)
    with pytest.raises(ValueError, match="taken"):
        registry.register(Action("again", "r", "retry_button", STANDARD_ACTIONS[0].handler))


def test_cards_offer_retry_and_original_as_the_outcome_allows(engine: Engine) -> None:
    image = ResultImage(photo(), "image/jpeg")
    with_image = engine.card(Success(1, 2, (image,), "here"), "en")
    assert [b.label for b in with_image.buttons] == RESULT_ACTIONS
    assert [unpack(b.payload) for b in with_image.buttons] == [
        unpack("r:2"),
        unpack("o:2"),
        unpack("bb2:v:2"),
        unpack("bb2:z:2"),
        unpack("bb2:rf:2"),
        unpack("bb2:i:2"),
    ]
    text_only = engine.card(Success(1, 2, (), "a question?"), "zh-Hans")
    assert [b.label for b in text_only.buttons] == ["重试"]
    retryable = engine.card(Failure(FailureKind.MODEL, "busy", 5, retryable=True), "en")
    assert [unpack(b.payload) for b in retryable.buttons] == [unpack("r:5")]
    assert engine.card(Failure(FailureKind.INPUT, "too big"), "en").buttons == ()
    assert engine.card(Failure(FailureKind.MODEL, "gone", 5, retryable=False), "en").buttons == ()


async def test_retry_and_original_run_through_a_press(engine: Engine, gemini: GeminiFake) -> None:
    outbox = RecordingOutbox()
    await engine.handle(request("make it blue", photo()), outbox)
    result = outbox.success
    reply = RecordingReply()
    await engine.press(f"bb2:o:{result.model_turn_id}", CHAT, ALICE, reply)
    assert reply.files[0][0] == result.images and reply.files[0][1] == "Original, lossless."
    assert reply.acknowledged == 1
    await engine.press(f"r:{result.model_turn_id}", CHAT, ALICE, reply)  # a legacy button
    assert len(gemini.requests) == 2
    assert reply.steps.success.user_turn_id == result.user_turn_id
    assert reply.notices == []
    assert reply.finished == 2


async def test_presses_that_cannot_run_say_why(engine: Engine, gemini: GeminiFake) -> None:
    reply = RecordingReply()
    await engine.press("bb2:zz:1", CHAT, ALICE, reply)  # an action this version lacks
    await engine.press("bb2:o:999999", CHAT, ALICE, reply)  # a result nobody knows
    await engine.press("bb2:f:alice", CHAT, BOB, reply)  # someone else's /forget
    assert reply.notices == [
        messages.text("button_expired", "en"),
        messages.text("unknown_result", "en"),
        messages.text("not_your_button", "zh-CN"),
    ]
    assert reply.files == [] and reply.replaced == [] and gemini.requests == []
    assert reply.finished == 3  # every press is finished, refused or not


async def test_forget_confirmation_is_the_askers_alone(engine: Engine, gemini: GeminiFake) -> None:
    await engine.handle(request("a cat", photo()), RecordingOutbox())
    card = await engine.forget_card(CHAT, ALICE)
    assert card.text == messages.text("forget_confirm", "en")
    (button,) = card.buttons
    reply = RecordingReply()
    await engine.press(button.payload, CHAT, ALICE, reply)
    assert reply.replaced == ["Done: 2 turns deleted."]


async def test_a_new_action_needs_only_a_declaration(engine_with_echo: Engine) -> None:
    engine = engine_with_echo
    outbox = RecordingOutbox()
    await engine.handle(request("a dog", photo()), outbox)
    card = engine.card(outbox.success, "en")
    echo = next(b for b in card.buttons if b.code == "echo")
    reply = RecordingReply()
    await engine.press(echo.payload, CHAT, ALICE, reply)
    assert reply.notices == [f"echo {outbox.success.model_turn_id}"]


async def _echo(engine: Engine, press: PressContext, arg: str) -> None:
    await press.reply.notify(f"echo {arg}")


ECHO = Action(
    "echo",
    "echo",
    "retry_button",
    _echo,
    offer=lambda outcome: str(outcome.model_turn_id) if isinstance(outcome, Success) else None,
)


@pytest.fixture
async def engine_with_echo(engine: Engine) -> Engine:
    engine.actions.register(ECHO)
    return engine

"""Watching the model think, through the engine: drafts, Stop, search sources, the settings.

The model is the real google-genai client streaming from the Gemini fake; the outbox is the
in-memory test adapter. The platforms' renderings of the same cards are tested with their fakes
in test_live_previews_telegram.py and test_live_previews_discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

from PIL import Image

from bot.app import open_engine
from bot.engine import Engine
from bot.lineage import Part, TurnStatus, replayed
from bot.outcome import FailureKind, Outcome
from bot.progress import StatusPacer
from tests.conftest import ALICE, CHAT, RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake, Reply
from tests.test_actions import RecordingReply

THINKING = "gemini-3.1-flash-image"
BOB = ALICE.__class__("bob", "Bob", "en")


async def until_status(outbox: RecordingOutbox) -> None:
    """Wait until the step shows its status message (a queue position or a draft)."""
    async with asyncio.timeout(15):
        while not outbox.statuses:  # noqa: ASYNC110 - the outbox has no change feed
            await asyncio.sleep(0.01)


async def drafting(engine: Engine, outbox: RecordingOutbox) -> asyncio.Task[Outcome]:
    """Start a step and return it once it shows its status (a draft, for a held stream)."""
    step = asyncio.create_task(engine.handle(request("a cat", photo()), outbox))
    await until_status(outbox)
    return step


def stop_payload(outbox: RecordingOutbox) -> str:
    """The Stop button of the step's status message."""
    [stop] = [b for b in outbox.statuses[-1].buttons if b.label == "Stop"]
    return stop.payload


async def test_drafts_show_while_the_model_thinks_and_the_stored_turn_replays(
    tmp_path: Path,
) -> None:
    async with GeminiFake(gemini3=True, default_image_size=(900, 600)) as fake:
        settings = make_settings(tmp_path / "data", fake, model=THINKING)
        fake.script(
            Reply.thinking(
                draft_at=(0.0, 0.2),
                thoughts=("**Sketching the cat**", "**Adding the hat**\n\nGold, tilted."),
            )
        )
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            await engine.handle(request("a cat in a hat", photo()), outbox)
            first = outbox.success
            stored = await engine._store.get_turn(first.model_turn_id)
            follow = RecordingOutbox()
            await engine.handle(request("now at night", reply_to=outbox.posted[-1]), follow)
        async with open_engine(settings) as engine:  # and after a restart
            again = RecordingOutbox()
            await engine.handle(request("in the rain", reply_to=follow.posted[-1]), again)

    streamed = fake.requests[0]
    assert streamed.action == "streamGenerateContent"
    config = streamed.generation_config or {}
    thinking = config.get("thinkingConfig") or config.get("thinking_config")
    assert thinking in ({"includeThoughts": True}, {"include_thoughts": True})
    drafts = [card for card in outbox.statuses if card.images]
    assert drafts, outbox.statuses
    for card in drafts:
        assert card.text.startswith("Draft")
        assert [b.label for b in card.buttons] == ["Stop"]
        [image] = card.images
        assert image.mime_type == "image/jpeg"
        with Image.open(io.BytesIO(image.data)) as shown:
            assert shown.format == "JPEG" and max(shown.size) <= 1024
    assert drafts[-1].text == "Draft: Gold, tilted."
    # Drafts are never results: the one result is the final image, charged once.
    assert len(first.images) == 1
    assert first.images[0].data == streamed.response_images[-1]
    # The next turns replay the streamed answer: the fake checks every signature.
    assert follow.success and again.success
    assert [r.response_status for r in fake.requests] == [200, 200, 200]
    replayed = fake.requests[1].contents[1]
    assert replayed.role == "model"
    # The drafts stay stored, exactly as answered, but are not sent back: only the signed
    # answer is (a thought's summary is optional input; its signature is not).
    assert stored is not None
    assert [p.thought for p in stored.parts if p.image is not None] == [True, True, False]
    assert [(p.image is not None, p.thought) for p in replayed.parts] == [
        (False, False),
        (True, False),
    ]
    assert all(p.thought_signature for p in replayed.parts)


async def test_previews_off_and_non_thinking_models_call_as_before(tmp_path: Path) -> None:
    async with GeminiFake(gemini3=True) as fake:
        settings = make_settings(
            tmp_path / "data",
            fake,
            model=THINKING,
            previews=False,
            allowed_models=["gemini-2.5-flash-image"],
        )
        async with open_engine(settings) as engine:
            off, on, other = RecordingOutbox(), RecordingOutbox(), RecordingOutbox()
            await engine.handle(request("a cat", photo()), off)
            await engine.settings_service.change(CHAT, "previews", "on")
            await engine.handle(request("a dog", photo()), on)
            await engine.settings_service.change(CHAT, "model", "gemini-2.5-flash-image")
            choices = await engine.settings_service.choices(CHAT)
            assert choices["previews"] == () and choices["search"] == ()
            await engine.handle(request("a bird", photo()), other)
    assert [r.action for r in fake.requests] == [
        "generateContent",
        "streamGenerateContent",
        "generateContent",
    ]
    assert off.success and on.success and other.success
    assert off.statuses == [] and other.statuses == []
    assert [card.text for card in on.statuses] == ["Draft: thinking..."]


async def test_stop_closes_the_stream_keeps_the_turn_and_charges_nothing(
    tmp_path: Path,
) -> None:
    async with GeminiFake(gemini3=True) as fake:
        settings = make_settings(tmp_path / "data", fake, model=THINKING)
        fake.script(Reply.thinking(draft_at=(0.0,), hold=True))
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            step = await drafting(engine, outbox)
            presser = RecordingReply()
            await engine.press(stop_payload(outbox), CHAT, ALICE, presser)
            outcome = await asyncio.wait_for(step, 15)
            # The fake would hold the stream forever: only the bot can have closed it.
            await fake.wait_for(lambda: fake.requests[0].disconnected_after is not None)
            usage = await engine.quota_status(CHAT, ALICE)
            turn_id = outbox.failure.user_turn_id
            assert turn_id is not None
            turn = await engine._store.get_turn(turn_id)
            late = RecordingReply()
            await engine.press(stop_payload(outbox), CHAT, ALICE, late)
            retried = RecordingOutbox()
            [retry] = [b for b in engine.card(outcome, "en").buttons if b.label == "Retry"]
            await engine.press(retry.payload, CHAT, ALICE, _replying_to(retried))
    assert outcome.kind is FailureKind.STOPPED  # type: ignore[union-attr]
    assert outbox.failure.message == "Stopped."
    assert presser.notices == [] and presser.acknowledged == 1
    assert usage.user_used == 0
    assert turn is not None and turn.status is TurnStatus.FAILED
    assert late.notices == ["That one had already finished."]
    assert retried.success  # Retry answers the kept turn


def _replying_to(outbox: RecordingOutbox) -> RecordingReply:
    reply = RecordingReply()
    reply.steps = outbox
    return reply


async def test_only_the_asker_or_an_admin_may_stop(tmp_path: Path) -> None:
    async with GeminiFake(gemini3=True) as fake:
        settings = make_settings(tmp_path / "data", fake, model=THINKING)
        fake.script(Reply.thinking(draft_at=(0.0,), hold=True))
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            step = await drafting(engine, outbox)
            stranger = RecordingReply()
            await engine.press(stop_payload(outbox), CHAT, BOB, stranger)
            assert not step.done()
            admin = RecordingReply()
            admin.chat_admin = True
            await engine.press(stop_payload(outbox), CHAT, BOB, admin)
            await asyncio.wait_for(step, 15)
    assert stranger.notices == [
        "Only the person who asked, or an admin of this chat, can stop it."
    ]
    assert outbox.failure.kind is FailureKind.STOPPED


async def test_stop_while_queued_leaves_the_queue(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake, max_concurrent_requests=1)
        fake.script(Reply.hang())
        async with open_engine(settings) as engine:
            first, second, third = RecordingOutbox(), RecordingOutbox(), RecordingOutbox()
            running = asyncio.create_task(engine.handle(request("one", photo()), first))
            await fake.wait_for(lambda: len(fake.requests) == 1)
            waiting = asyncio.create_task(
                engine.handle(request("two", photo(), author=BOB), second)
            )
            await until_status(second)
            behind = asyncio.create_task(engine.handle(request("three", photo()), third))
            await until_status(third)
            assert second.statuses[0].text == "You are number 1 in the queue."
            await engine.press(stop_payload(second), CHAT, BOB, RecordingReply())
            await asyncio.wait_for(waiting, 15)
            running.cancel()  # frees the slot: the third step, not the stopped one, gets it
            await fake.wait_for(lambda: len(fake.requests) == 2)
            await asyncio.wait_for(behind, 15)
    assert second.failure.kind is FailureKind.STOPPED
    assert third.success
    assert [c.parts[-1].text for r in fake.requests for c in r.contents[-1:]] == ["one", "three"]


async def test_a_stream_error_after_a_draft_fails_clearly_and_retry_works(
    tmp_path: Path,
) -> None:
    async with GeminiFake(gemini3=True) as fake:
        settings = make_settings(tmp_path / "data", fake, model=THINKING, retry_attempts=1)
        fake.script(Reply.thinking(draft_at=(0.0,), error=Reply.server_error(500)))
        async with open_engine(settings) as engine:
            outbox = RecordingOutbox()
            outcome = await engine.handle(request("a cat", photo()), outbox)
            [retry] = [b for b in engine.card(outcome, "en").buttons if b.label == "Retry"]
            retried = RecordingOutbox()
            await engine.press(retry.payload, CHAT, ALICE, _replying_to(retried))
    assert [card for card in outbox.statuses if card.images]  # a draft was shown
    assert outbox.failure.kind is FailureKind.MODEL and outbox.failure.retryable
    assert retried.success


async def test_search_grounding_lists_up_to_five_sources(tmp_path: Path) -> None:
    async with GeminiFake(gemini3=True) as fake:
        settings = make_settings(tmp_path / "data", fake, model=THINKING)
        async with open_engine(settings) as engine:
            assert (await engine.settings_service.choices(CHAT))["search"] == ("on", "off")
            await engine.settings_service.change(CHAT, "search", "on")
            outbox = RecordingOutbox()
            await engine.handle(request("the Eiffel tower today"), outbox)
            card = outbox.cards[-1]
            await engine.settings_service.change(CHAT, "search", "off")
            await engine.handle(request("and a cat"), outbox)
    tools = fake.requests[0].raw.get("tools")
    assert tools and {"googleSearch", "google_search"} & set(tools[0])
    assert "tools" not in fake.requests[1].raw
    assert len(outbox.success.sources) == 0
    assert len(card.sources) == 5
    assert [(s.title, s.uri) for s in card.sources] == fake.grounding_sources[:5]


async def test_search_models_config_overrides_the_table(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake, search_models=["gemini-2.5-flash-image"])
        async with open_engine(settings) as engine:
            assert (await engine.settings_service.choices(CHAT))["search"] == ("on", "off")


async def test_stop_after_the_queue_cancels_a_plain_call_too(tmp_path: Path) -> None:
    """A model without drafts: the queue's status keeps its Stop while the call runs."""
    release = asyncio.Event()
    async with GeminiFake() as fake:
        settings = make_settings(tmp_path / "data", fake, max_concurrent_requests=1)
        fake.script(
            Reply.thinking(draft_at=(), thoughts=(), release=release),
            Reply.thinking(draft_at=(), thoughts=(), hold=True),
        )
        async with open_engine(settings) as engine:
            first, second = RecordingOutbox(), RecordingOutbox()
            running = asyncio.create_task(engine.handle(request("one", photo()), first))
            await fake.wait_for(lambda: len(fake.requests) == 1)
            waiting = asyncio.create_task(engine.handle(request("two", photo()), second))
            await until_status(second)
            release.set()  # the first call ends; the second leaves the queue and calls
            await fake.wait_for(lambda: len(fake.requests) == 2)
            await engine.press(stop_payload(second), CHAT, ALICE, RecordingReply())
            await asyncio.wait_for(asyncio.gather(running, waiting), 15)
            await fake.wait_for(lambda: fake.requests[1].disconnected_after is not None)
    assert fake.requests[1].action == "generateContent"
    assert first.success
    assert second.failure.kind is FailureKind.STOPPED


def test_thought_summaries_are_not_replayed_but_signed_thoughts_are() -> None:
    summary = Part(text="thinking", thought=True, raw='{"text":"thinking","thought":true}')
    signed = Part(text="", thought=True, raw='{"thought":true,"thought_signature":"c2ln"}')
    answer = Part(text="Here", raw='{"text":"Here","thought_signature":"c2ln"}')
    assert [replayed(p) for p in (summary, signed, answer)] == [False, True, True]


async def test_a_dropped_status_update_gives_its_slot_back() -> None:
    pacer = StatusPacer(interval=30.0)
    key = (CHAT.platform, CHAT.chat_id)
    await pacer.turn(CHAT)  # the first update goes at once and holds the next 30 s
    first_claim = pacer._next[key]
    waiting = asyncio.create_task(pacer.turn(CHAT))  # the next waits for that slot
    await asyncio.sleep(0)
    assert pacer._next[key] == first_claim + 30.0
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    # Dropped (its step ended): the chat's next update waits for the first slot only.
    assert pacer._next[key] == first_claim

"""Every way the model can fail ends as a typed outcome, and the user's turn stays stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import open_engine
from bot.errors import (
    ModelBlocked,
    ModelNotFound,
    ModelRateLimited,
    ModelRejected,
    ModelTimeout,
    ModelUnavailable,
)
from bot.lineage import TurnStatus
from bot.outcome import FailureKind
from bot.store.sqlite import SqliteStore
from tests.conftest import RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake, Reply


async def run_one(tmp_path: Path, fake: GeminiFake, *replies: Reply, **gemini: object):
    """Send one edit with `replies` scripted; return the outbox and the stored user turn."""
    fake.script(*replies)
    settings = make_settings(tmp_path / "data", fake, **gemini)
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        outcome = await engine.handle(request("make it blue", photo()), outbox)
        user_turn_id = getattr(outcome, "user_turn_id", None)
        assert user_turn_id is not None, "the user's turn must be stored"
    async with SqliteStore.open(settings.storage.data_dir) as store:
        turn = await store.get_turn(user_turn_id)
    assert turn is not None
    return outbox, turn


async def test_rate_limit_with_retry_delay_is_waited_out_then_succeeds(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    outbox, turn = await run_one(tmp_path, gemini, Reply.rate_limited("0.05s"), Reply.image())
    assert outbox.success.images
    assert turn.status is TurnStatus.ANSWERED
    assert len(gemini.requests) == 2


async def test_rate_limit_beyond_patience_tells_the_wait(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    outbox, turn = await run_one(tmp_path, gemini, Reply.rate_limited("45s"))
    failure = outbox.failure
    assert isinstance(failure.error, ModelRateLimited)
    assert failure.error.retry_after == 45
    assert "45 seconds" in failure.message
    assert failure.retryable and failure.kind is FailureKind.MODEL
    assert turn.status is TurnStatus.FAILED
    assert len(gemini.requests) == 1  # a 45 s wait is not worth holding the user


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_server_errors_are_retried_with_backoff(
    tmp_path: Path, gemini: GeminiFake, status: int
) -> None:
    outbox, _ = await run_one(tmp_path, gemini, Reply.server_error(status), Reply.image())
    assert outbox.success.images
    assert len(gemini.requests) == 2


async def test_server_errors_give_up_after_the_configured_attempts(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    replies = [Reply.server_error(503)] * 3
    outbox, turn = await run_one(tmp_path, gemini, *replies, retry_attempts=3)
    assert isinstance(outbox.failure.error, ModelUnavailable)
    assert outbox.failure.message.startswith("Gemini is unavailable")
    assert len(gemini.requests) == 3
    assert turn.status is TurnStatus.FAILED


async def test_timeout(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, turn = await run_one(tmp_path, gemini, Reply.hang(), timeout_s=0.3, retry_attempts=1)
    assert isinstance(outbox.failure.error, ModelTimeout)
    assert "too long" in outbox.failure.message
    assert turn.status is TurnStatus.FAILED


async def test_connection_refused(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        dead_url = fake.base_url
    settings = make_settings(tmp_path / "data", fake, base_url=dead_url, retry_attempts=2)
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("make it blue", photo()), outbox)
    assert isinstance(outbox.failure.error, ModelUnavailable)
    assert outbox.failure.retryable


async def test_image_safety_block(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, turn = await run_one(tmp_path, gemini, Reply.finish("IMAGE_SAFETY"))
    failure = outbox.failure
    assert isinstance(failure.error, ModelBlocked) and failure.error.reason == "IMAGE_SAFETY"
    assert failure.kind is FailureKind.BLOCKED
    assert "IMAGE_SAFETY" in failure.message and "safety" in failure.message
    assert turn.status is TurnStatus.FAILED


async def test_prompt_block(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, _ = await run_one(tmp_path, gemini, Reply.prompt_blocked("PROHIBITED_CONTENT"))
    assert isinstance(outbox.failure.error, ModelBlocked)
    assert outbox.failure.error.reason == "PROHIBITED_CONTENT"


async def test_no_image_and_unknown_finish_reasons(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, _ = await run_one(tmp_path, gemini, Reply.finish("NO_IMAGE"))
    assert "did not produce an image" in outbox.failure.message
    outbox, _ = await run_one(tmp_path, gemini, Reply.finish("FUTURE_REASON"))
    assert "FUTURE_REASON" in outbox.failure.message


async def test_text_only_answer_is_a_valid_turn(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, turn = await run_one(
        tmp_path, gemini, Reply.text_only("Which hat do you want, red or blue?")
    )
    success = outbox.success
    assert success.images == ()
    assert "Which hat do you want" in success.text
    assert turn.status is TurnStatus.ANSWERED


async def test_model_not_found_names_model_and_key(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, _ = await run_one(tmp_path, gemini, Reply.not_found(), model="gemini-9-image")
    failure = outbox.failure
    assert isinstance(failure.error, ModelNotFound)
    assert "gemini-9-image" in failure.message and "gemini.model" in failure.message
    assert not failure.retryable
    assert len(gemini.requests) == 1


async def test_bad_request_is_not_retried(tmp_path: Path, gemini: GeminiFake) -> None:
    outbox, _ = await run_one(
        tmp_path, gemini, Reply.error(400, "Request contains an invalid argument.")
    )
    assert isinstance(outbox.failure.error, ModelRejected)
    assert len(gemini.requests) == 1


@pytest.mark.parametrize("kind", ["not json", "no candidates"])
async def test_malformed_answers(tmp_path: Path, gemini: GeminiFake, kind: str) -> None:
    outbox, turn = await run_one(
        tmp_path,
        gemini,
        Reply.malformed(kind),
        retry_attempts=1,  # type: ignore[arg-type]
    )
    assert isinstance(outbox.failure.error, ModelUnavailable)
    assert turn.status is TurnStatus.FAILED


async def test_failed_turn_can_be_retried_and_replies_to_the_failure_continue(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    gemini.script(Reply.finish("IMAGE_SAFETY"))
    async with open_engine(make_settings(tmp_path / "data", gemini)) as engine:
        outbox = RecordingOutbox()
        failure = await engine.handle(request("make it blue", photo()), outbox)
        assert failure.user_turn_id is not None  # type: ignore[union-attr]
        retried = await engine.retry(
            request("x").chat,
            request("x").author,
            failure.user_turn_id,
            outbox,  # type: ignore[union-attr]
        )
        assert retried.images  # type: ignore[union-attr]
        # Both requests carried the same stored user turn.
        assert gemini.requests[0].contents == gemini.requests[1].contents

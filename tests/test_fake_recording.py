"""The recording helper every fake shares: one `wait_for`, recorded calls, scripted failures."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiohttp import ClientSession

from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.recording import RECENT_CALLS, CallLog, FailureScript
from tests.fakes.telegram import TelegramFake


async def settle() -> None:
    """Let every ready task run a few times (no clock involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_wait_for_returns_the_first_truthy_value() -> None:
    log: CallLog[str] = CallLog(str)
    box: dict[str, object] = {}
    answer = object()
    waiter = asyncio.create_task(log.wait_for(lambda: box.get("answer"), timeout=5))
    await settle()
    box["answer"] = answer
    log.changed()
    await settle()
    assert waiter.done() and waiter.result() is answer


async def test_falsy_values_keep_it_waiting() -> None:
    log: CallLog[str] = CallLog(str)
    values: list[Any] = [0, "", [], False, None, "found"]
    waiter = asyncio.create_task(log.wait_for(lambda: values[0], timeout=5))
    while len(values) > 1:
        await settle()
        assert not waiter.done(), f"returned on falsy {values[0]!r}"
        values.pop(0)
        log.changed()
    await settle()
    assert waiter.done() and waiter.result() == "found"


async def test_a_change_wakes_the_waiter_at_once_and_nothing_else_does() -> None:
    log: CallLog[str] = CallLog(str)
    state = {"ready": False}
    waiter = asyncio.create_task(log.wait_for(lambda: state["ready"], timeout=30))
    await settle()
    state["ready"] = True  # unannounced: a waiter re-checks only when told
    await settle()
    assert not waiter.done()
    log.changed()
    await settle()  # woken within a few loop turns, not by some polling clock
    assert waiter.done()
    assert waiter.result() is True


async def test_recording_a_call_wakes_the_waiter() -> None:
    log: CallLog[str] = CallLog(str)
    waiter = asyncio.create_task(log.wait_for(lambda: "getMe" in log.calls, timeout=30))
    await settle()
    log.record("getMe")
    await settle()
    assert waiter.done() and waiter.result() is True


async def test_the_timeout_names_the_condition_and_the_recent_calls() -> None:
    log: CallLog[str] = CallLog(lambda call: f"<{call}>")
    for number in range(RECENT_CALLS + 5):
        log.record(f"call{number}")

    def never() -> None:
        return None

    with pytest.raises(TimeoutError) as caught:
        await log.wait_for(never, timeout=0.01)
    message = str(caught.value)
    assert f"test_fake_recording.py:{never.__code__.co_firstlineno}" in message
    assert "within 0.01s" in message
    shown = re.findall(r"<call(\d+)>", message)
    assert shown == [str(n) for n in range(5, RECENT_CALLS + 5)]  # the last ones, in order


async def test_a_timeout_without_calls_says_none() -> None:
    log: CallLog[str] = CallLog(str)
    with pytest.raises(TimeoutError, match="recent calls: none"):
        await log.wait_for(lambda: False, timeout=0)


def test_scripted_failures_are_used_up_in_order() -> None:
    script: FailureScript[str, str] = FailureScript()
    script.add(lambda call: call == "send", "first", times=2)
    script.add(lambda call: call.startswith("s"), "second")
    assert script.take("get") is None
    assert [script.take("send") for _ in range(4)] == ["first", "first", "second", None]
    assert len(script) == 0


# Every fake waits the same way: a zero-argument condition, its value back, the same timeout.


async def _telegram_call(tg: TelegramFake) -> None:
    async with ClientSession() as http, http.post(f"{tg.api_base_url}{tg.token}/getMe") as r:
        assert r.status == 200


async def _discord_call(dc: DiscordFake) -> None:
    headers = {"Authorization": "Bot fake-token"}
    async with (
        ClientSession() as http,
        http.get(f"{dc.api_base_url}/users/@me", headers=headers) as r,
    ):
        assert r.status == 200


async def _gemini_call(gemini: GeminiFake) -> None:
    url = f"{gemini.base_url}/v1beta/models/fake-model:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with ClientSession() as http, http.post(url, json=body) as r:
        assert r.status == 200


FAKES: list[tuple[Callable[[], AbstractAsyncContextManager[Any]], Any, str, str]] = [
    (TelegramFake, _telegram_call, "calls", "getMe->200"),
    (DiscordFake, _discord_call, "calls", "GET /users/@me -> 200"),
    (GeminiFake, _gemini_call, "requests", "fake-model:generateContent -> 200"),
]
Fake = tuple[Any, Callable[[], Awaitable[None]], str, str]


@pytest.fixture(params=FAKES, ids=["telegram", "discord", "gemini"])
async def fake_and_call(request: pytest.FixtureRequest) -> AsyncIterator[Fake]:
    make, call, records, described = request.param
    async with make() as fake:
        yield fake, lambda: call(fake), records, described


async def test_every_fake_waits_for_a_condition_and_returns_its_value(
    fake_and_call: Fake,
) -> None:
    fake, call, records, _ = fake_and_call
    recorded: list[Any] = getattr(fake, records)
    waiter = asyncio.create_task(fake.wait_for(lambda: recorded[:1], timeout=10))
    await settle()
    assert not waiter.done()
    await call()
    assert await waiter == recorded[:1]


async def test_every_fake_times_out_listing_its_recent_calls(fake_and_call: Fake) -> None:
    fake, call, _, described = fake_and_call
    await call()
    with pytest.raises(TimeoutError, match=re.escape(described)):
        await fake.wait_for(lambda: None, timeout=0.01)

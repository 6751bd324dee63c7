"""Telegram and Discord served together by one process, from one config.

Each adapter is supervised on its own: one that fails is logged and restarted with bounded
backoff while the other keeps serving; a refusal for good (bad token, portal switch) still
stops the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.telegram.config import TelegramSettings
from bot.app import RestartPolicy, run_bot, supervise
from bot.config import Settings
from bot.errors import ConfigError
from tests.conftest import photo
from tests.discord_harness import bot_settings
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake


def both(tmp_path: Path, gemini: GeminiFake, tg: TelegramFake, dc: DiscordFake) -> Settings:
    settings = bot_settings(tmp_path / "data", gemini, dc)
    telegram = TelegramSettings(
        token=tg.token, api_base_url=tg.api_base_url, file_base_url=tg.file_base_url
    )
    return dataclasses.replace(settings, plugins={**settings.plugins, "telegram": telegram})


async def test_one_process_serves_both_platforms(tmp_path: Path, gemini: GeminiFake) -> None:
    async with TelegramFake() as tg, DiscordFake() as dc:
        settings = both(tmp_path, gemini, tg, dc)
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(settings, stop))
        try:
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), timeout=30)
            # Commands are synced before the gateway connects: wait for the IDENTIFY too.
            await dc.wait_for(lambda: dc.global_commands and dc.connected, timeout=30)
            alice = tg.user(1, "Alice")
            tg.send_user_message(tg.private_chat(alice), alice, photo=photo(), caption="blue")
            interaction = await dc.slash_command("imagine", {"prompt": "a banana spaceship"})
            telegram_result = await tg.wait_for_call("sendPhoto", timeout=30)
            (discord_result,) = await dc.wait_for_followup(interaction, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    assert telegram_result.ok
    assert discord_result["attachments"]
    assert len(gemini.requests) == 2
    prompts = {c.parts[-1].text for r in gemini.requests for c in r.contents}
    assert prompts == {"blue", "a banana spaceship"}


async def test_a_failed_discord_adapter_is_restarted_while_telegram_keeps_serving(
    tmp_path: Path, gemini: GeminiFake, caplog: pytest.LogCaptureFixture
) -> None:
    async with TelegramFake() as tg, DiscordFake() as dc:
        dc.unreadable_ready_count = 1  # the first session ends on a READY discord.py can't read
        settings = both(tmp_path, gemini, tg, dc)
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(settings, stop))
        try:
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), timeout=30)
            alice = tg.user(1, "Alice")
            tg.send_user_message(tg.private_chat(alice), alice, photo=photo(), caption="blue")
            telegram_result = await tg.wait_for_call("sendPhoto", timeout=30)
            await dc.wait_for(lambda: len(dc.identify_payloads) == 2 and dc.connected, timeout=30)
            interaction = await dc.slash_command("imagine", {"prompt": "a banana spaceship"})
            (discord_result,) = await dc.wait_for_followup(interaction, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    assert telegram_result.ok
    assert discord_result["attachments"]
    assert len(tg.calls_of("getMe")) == 1  # Telegram was never stopped
    failures = [r for r in caplog.records if r.getMessage().startswith("discord adapter failed")]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert "restarting in" in failures[0].getMessage()


async def test_a_refused_intent_still_stops_the_process_with_telegram_running(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg, DiscordFake() as dc:
        dc.close_on_identify = 4014
        with pytest.RaisesGroup(ConfigError):
            await asyncio.wait_for(run_bot(both(tmp_path, gemini, tg, dc)), 30)
    assert len(dc.identify_payloads) == 1  # refused for good: no restart


async def test_a_rejected_telegram_token_stops_the_process_instead_of_retrying(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg, DiscordFake() as dc:
        settings = both(tmp_path, gemini, tg, dc)
        telegram = settings.plugin("telegram", TelegramSettings)
        wrong = dataclasses.replace(telegram, token="999:WRONG")
        refusing = dataclasses.replace(settings, plugins={**settings.plugins, "telegram": wrong})
        with pytest.RaisesGroup(ConfigError) as refused:
            await asyncio.wait_for(run_bot(refusing), 30)
    [error] = refused.value.exceptions
    assert isinstance(error, ConfigError)
    assert error.key == "telegram.token"
    assert "WRONG" not in str(error)


class FlakyAdapter:
    """Fails whenever the test says so, then is started again by the supervisor."""

    def __init__(self) -> None:
        self.runs = 0
        self.crash = asyncio.Event()
        self.connected = True

    async def run(self, stop: asyncio.Event) -> None:
        self.runs += 1
        self.crash.clear()
        crashed = asyncio.create_task(self.crash.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({crashed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        crashed.cancel()
        stopped.cancel()
        if not stop.is_set():
            raise RuntimeError("a gateway payload the library could not read")


class EchoAdapter:
    """Answers every request put in its inbox until stopped."""

    def __init__(self) -> None:
        self.runs = 0
        self.connected = True
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.answered: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        self.runs += 1
        while not stop.is_set():
            got = asyncio.create_task(self.inbox.get())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({got, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if got.done():
                self.answered.append(got.result())
            else:
                got.cancel()


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - in-process state, no event to wait on
            await asyncio.sleep(0)


async def test_a_failing_adapter_is_restarted_each_time_while_the_other_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky, echo = FlakyAdapter(), EchoAdapter()
    stop = asyncio.Event()
    refusals: list[ConfigError] = []
    quick = RestartPolicy(first_delay_s=0.001, max_delay_s=0.004)
    async with asyncio.TaskGroup() as group:
        group.create_task(supervise("flaky", lambda: flaky, stop, refusals, quick))
        group.create_task(supervise("echo", lambda: echo, stop, refusals, quick))
        for n in range(1, 4):
            await until(lambda n=n: flaky.runs == n and echo.runs == 1)
            echo.inbox.put_nowait(f"ping {n}")
            await until(lambda n=n: len(echo.answered) == n)
            flaky.crash.set()
        await until(lambda: flaky.runs == 4)
        stop.set()

    assert echo.answered == ["ping 1", "ping 2", "ping 3"]
    assert (flaky.runs, echo.runs) == (4, 1)
    assert refusals == []
    failed = [r for r in caplog.records if r.getMessage().startswith("flaky adapter failed")]
    assert [r.getMessage().split("(")[1].split()[0] for r in failed] == ["1", "2", "3"]
    assert all(r.exc_info for r in failed)


async def test_a_refusal_for_good_is_not_restarted_and_stops_the_others() -> None:
    echo = EchoAdapter()
    stop = asyncio.Event()
    refusals: list[ConfigError] = []
    tries = 0

    def refused() -> EchoAdapter:
        nonlocal tries
        tries += 1
        raise ConfigError("discord.token", "rejected")

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        group.create_task(supervise("discord", refused, stop, refusals))
        group.create_task(supervise("echo", lambda: echo, stop, refusals))

    assert tries == 1
    assert [r.key for r in refusals] == ["discord.token"]
    assert stop.is_set()


def test_restart_delays_double_up_to_the_bound() -> None:
    policy = RestartPolicy(first_delay_s=1.0, max_delay_s=60.0)
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.delay(10_000) == 60

"""The operations endpoint (`[server]`): /healthz and /metrics of a running bot.

The bot runs as `bananabot run` does (`run_bot`), with the real Telegram adapter against the
Bot API fake; on PostgreSQL the database server is stopped and started again underneath it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import RestartPolicy, run_bot
from bot.config import ConfigError, ServerSettings, Settings, parse_settings
from tests.conftest import photo
from tests.discord_harness import bot_settings
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.loopback import free_port
from tests.fakes.telegram import ApiError, Call, TelegramFake
from tests.postgres_server import new_database, running_postgres
from tests.telegram_harness import telegram_settings

QUICK_RESTARTS = RestartPolicy(first_delay_s=0.05, max_delay_s=0.2)


def test_the_server_is_off_unless_a_port_is_given() -> None:
    assert not parse_settings({}, {}).server.enabled
    on = parse_settings({"server": {"listen": "0.0.0.0", "port": 9100}}, {}).server
    assert on == ServerSettings(listen="0.0.0.0", port=9100) and on.enabled
    for wrong, key in (
        ({"port": 70000}, "server.port"),
        ({"port": -1}, "server.port"),
        ({"port": 9100, "listen": " "}, "server.listen"),
        ({"prot": 9100}, "server.prot"),
    ):
        with pytest.raises(ConfigError) as refused:
            parse_settings({"server": wrong}, {})
        assert refused.value.key == key


class Endpoint:
    """An HTTP client for the bot's operations endpoint."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self._session = session
        self._base = f"http://127.0.0.1:{port}"

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self._session.get(f"{self._base}/healthz") as response:
            return response.status, await response.json()

    async def health_becomes(self, status: int, within: float = 20) -> dict[str, Any]:
        """Ask /healthz until it answers `status` (it has no change feed to wait on)."""
        async with asyncio.timeout(within):
            while True:
                got, body = await self.health()
                if got == status:
                    return body
                await asyncio.sleep(0.05)

    async def metrics(self) -> dict[str, float]:
        """Every sample, keyed `name{label="value"}` (labels sorted), as Prometheus reads it."""
        async with self._session.get(f"{self._base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Endpoint]:
    """`run_bot` with `[server]` on a free loopback port; stopped cleanly afterwards."""
    port = free_port()
    settings = dataclasses.replace(settings, server=ServerSettings("127.0.0.1", port))
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(settings, stop, QUICK_RESTARTS))
    try:
        async with aiohttp.ClientSession() as session:
            endpoint = Endpoint(session, port)
            async with asyncio.timeout(20):
                while True:  # the server starts once the store is open
                    if task.done():
                        task.result()
                    try:
                        await endpoint.health()
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.02)
            yield endpoint
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def refuse_get_me(call: Call) -> None:
    raise ApiError(502, "Bad Gateway")


def answered(tg: TelegramFake, method: str, status: int) -> Callable[[], bool]:
    return lambda: any(c.status == status for c in tg.calls_of(method))


async def test_healthz_waits_for_telegram_and_metrics_count_a_step(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with TelegramFake() as tg:
        tg.register_method("getMe", refuse_get_me)  # Telegram out of reach at start-up
        async with running(telegram_settings(tmp_path / "data", gemini, tg)) as endpoint:
            await tg.wait_for(answered(tg, "getMe", 502))
            status, body = await endpoint.health()
            assert status == 503
            assert body["database"] == "ok"
            assert body["adapters"]["telegram"] in {"not running", "not connected"}

            tg.unregister_method("getMe")  # it comes back: the restarted adapter connects
            body = await endpoint.health_becomes(200)
            assert body == {
                "status": "ok",
                "database": "ok",
                "adapters": {"telegram": "connected"},
            }
            before = await endpoint.metrics()

            alice = tg.user(1, "Alice")
            tg.send_user_message(tg.private_chat(alice), alice, photo=photo(), caption="blue")
            await tg.wait_for_call("sendPhoto")
            after = await endpoint.metrics()
    assert 'bananabot_steps_total{outcome="success"}' not in before
    assert after['bananabot_steps_total{outcome="success"}'] == 1
    assert after["bananabot_model_call_seconds_count"] == 1
    assert after["bananabot_model_call_seconds_sum"] > 0
    assert after["bananabot_images_stored"] == 2  # the photo and the answer
    assert after["bananabot_model_queue_depth"] == 0
    assert "bananabot_steps_in_flight" in after
    errors = {n: v for n, v in after.items() if n.startswith("bananabot_database_errors_total")}
    assert errors and not any(errors.values())  # a series per store method called, all zero


async def test_healthz_is_503_while_telegram_polling_fails(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    async with (
        TelegramFake() as tg,
        running(telegram_settings(tmp_path / "data", gemini, tg)) as endpoint,
    ):
        await endpoint.health_becomes(200)
        tg.fail_next("getUpdates", 502)
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        tg.send_user_message(chat, alice, text="/help")  # ends the long poll: the next one fails
        down = await endpoint.health_becomes(503)  # PTB waits a second before it retries
        # Connected again once a poll is answered: a message ends the retried long poll.
        tg.send_user_message(chat, alice, text="/help")
        await endpoint.health_becomes(200)
    assert down["adapters"] == {"telegram": "not connected"}


async def test_healthz_follows_postgresql_down_and_back_and_the_bot_serves_again(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    with running_postgres() as database:
        url = await new_database(database.url)
        async with TelegramFake() as tg:
            base = telegram_settings(tmp_path / "data", gemini, tg)
            settings = dataclasses.replace(
                base,
                storage=dataclasses.replace(base.storage, backend="postgresql", database_url=url),
            )
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            async with running(settings) as endpoint:
                await endpoint.health_becomes(200)
                tg.send_user_message(chat, alice, photo=photo(), caption="blue")
                await tg.wait_for_call("sendPhoto")

                await asyncio.to_thread(database.stop)
                body = await endpoint.health_becomes(503)
                assert body["database"].startswith("error: ")
                assert body["adapters"] == {"telegram": "connected"}
                assert url not in str(body)
                down = await endpoint.metrics()

                await asyncio.to_thread(database.start)
                await endpoint.health_becomes(200)
                tg.send_user_message(chat, alice, photo=photo((0, 90, 200)), caption="green")
                await tg.wait_for_call("sendPhoto", count=2)
                up = await endpoint.metrics()
    assert down['bananabot_database_errors_total{operation="ping"}'] >= 1
    assert up['bananabot_steps_total{outcome="success"}'] == 2
    assert up["bananabot_images_stored"] == 4


# One shard of two: AutoShardedClient, without discord.py's 5 s between two shards' IDENTIFYs.
@pytest.mark.parametrize(
    "sharding", [{}, {"shard_count": 2, "shard_ids": (0,)}], ids=["one client", "sharded"]
)
async def test_healthz_follows_the_discord_gateway(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, sharding: dict[str, Any]
) -> None:
    async with running(bot_settings(tmp_path / "data", gemini, dc, **sharding)) as endpoint:
        up = await endpoint.health_becomes(200)
        await dc.close()  # Discord goes away: the client's socket closes, reconnects fail
        down = await endpoint.health_becomes(503)
    assert up["adapters"] == {"discord": "connected"}
    assert down["adapters"] == {"discord": "not connected"}
    assert down["database"] == "ok"

"""Sharding: instances each run their shards of one bot; only the one with shard 0 syncs commands.

Two adapters (each with its own engine, as two processes would have) share one Discord fake,
which routes a guild's events to shard (guild_id >> 22) % shard_count and DMs to shard 0.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.discord.config import DiscordSettings
from adapters.discord.plugin import plugin
from bot.config import Settings, parse_settings
from bot.engine import Engine
from bot.errors import ConfigError
from bot.request import ChatKey
from tests.discord_harness import (
    WAIT,
    Json,
    bot_messages,
    bot_settings,
    png,
    refused_start,
    serving,
    until_linked,
)
from tests.fakes.discord import DiscordFake
from tests.fakes.gemini import GeminiFake

COMMANDS_PUT = r"^/applications/\d+/commands$"


def shard_settings(
    tmp_path: Path, name: str, gemini: GeminiFake, dc: DiscordFake, **sharding: Any
) -> Settings:
    """An instance's settings: its own data directory, the given shards."""
    return bot_settings(tmp_path / name, gemini, dc, **sharding)


def shards_that_got(dc: DiscordFake, event: str, payload_id: str) -> list[tuple[int, int] | None]:
    """The shards whose sessions the fake sent this event (by its payload id) to."""
    return [shard for shard, ev, data in dc.dispatched if ev == event and data["id"] == payload_id]


async def ask_with_a_picture(dc: DiscordFake, channel_id: int) -> Json:
    """A user mentions the bot with a picture and an instruction."""
    photo = dc.add_attachment(png(), "cat.png", channel_id=channel_id)
    return await dc.user_message(
        channel_id, content="make it blue", attachments=[photo], mentions_bot=True
    )


async def answered_by(owner: Engine, other: Engine, dc: DiscordFake, channel_id: int) -> None:
    """The bot answered once in the channel, and `owner`'s store (not `other`'s) linked it."""
    [answer] = await bot_messages(dc, channel_id, 1)
    await until_linked(owner, channel_id, answer)
    assert not await other.is_linked(ChatKey("discord", str(channel_id), None), answer["id"])


async def test_each_guild_is_answered_by_the_instance_running_its_shard(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    on_zero = dc.add_guild("Shard zero", shard=(0, 2))
    on_one = dc.add_guild("Shard one", shard=(1, 2))
    zero = shard_settings(tmp_path, "a", gemini, dc, shard_count=2, shard_ids=(0,))
    one = shard_settings(tmp_path, "b", gemini, dc, shard_count=2, shard_ids=(1,))
    async with serving(zero) as first, serving(one) as second:
        assert sorted(dc.identified_shards) == [(0, 2), (1, 2)]

        asked = await ask_with_a_picture(dc, on_zero.text_channel_id)
        assert shards_that_got(dc, "MESSAGE_CREATE", asked["id"]) == [(0, 2)]
        await answered_by(first, second, dc, on_zero.text_channel_id)

        asked = await ask_with_a_picture(dc, on_one.text_channel_id)
        assert shards_that_got(dc, "MESSAGE_CREATE", asked["id"]) == [(1, 2)]
        await answered_by(second, first, dc, on_one.text_channel_id)

        # DMs arrive on shard 0 only.
        asked = await ask_with_a_picture(dc, dc.dm_channel_id)
        assert shards_that_got(dc, "MESSAGE_CREATE", asked["id"]) == [(0, 2)]
        await answered_by(first, second, dc, dc.dm_channel_id)

        # Slash commands arrive on the guild's shard too, and are answered there.
        inter = await dc.slash_command(
            "imagine", {"prompt": "a lighthouse"}, channel_id=on_one.text_channel_id
        )
        assert shards_that_got(dc, "INTERACTION_CREATE", str(inter.id)) == [(1, 2)]
        [result] = await dc.wait_for_followup(inter, timeout=WAIT)
        await until_linked(second, on_one.text_channel_id, result)

    assert len(gemini.requests) == 4  # nobody answered twice


async def test_only_the_instance_running_shard_0_syncs_application_commands(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord.client")
    one = shard_settings(tmp_path, "b", gemini, dc, shard_count=2, shard_ids=(1,))
    zero = shard_settings(tmp_path, "a", gemini, dc, shard_count=2, shard_ids=(0,))
    async with serving(one):
        assert dc.calls_to("PUT", COMMANDS_PUT) == []
        assert "not syncing application commands" in caplog.text
        async with serving(zero):
            [put] = dc.calls_to("PUT", COMMANDS_PUT)
            names = {command["name"] for command in put.json}
            assert {"edit", "imagine"} <= names


async def test_an_instance_running_every_shard_syncs_and_serves(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    settings = shard_settings(tmp_path, "a", gemini, dc, shard_count=1)
    async with serving(settings) as engine:
        assert dc.identified_shards == [(0, 1)]
        assert len(dc.calls_to("PUT", COMMANDS_PUT)) == 1
        await ask_with_a_picture(dc, dc.channel_id)
        [answer] = await bot_messages(dc, dc.channel_id, 1)
        await until_linked(engine, dc.channel_id, answer)


async def test_unsharded_by_default_one_connection_without_a_shard(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    settings = shard_settings(tmp_path, "a", gemini, dc)
    async with serving(settings):
        [identify] = dc.identify_payloads
        assert "shard" not in identify
        assert dc.identified_shards == []
        assert len(dc.calls_to("PUT", COMMANDS_PUT)) == 1
    # A plain client connects straight to the gateway; only AutoShardedClient asks for one.
    assert dc.calls_to("GET", r"^/gateway/bot$") == []


async def test_discord_demanding_shards_stops_naming_shard_count(
    tmp_path: Path, gemini: GeminiFake, dc: DiscordFake
) -> None:
    dc.close_on_identify = 4011  # Discord: this session would hold too many guilds
    refused = await refused_start(shard_settings(tmp_path, "a", gemini, dc))
    assert refused.key == "discord.shard_count"
    assert "4011" in str(refused)
    assert len(dc.identify_payloads) == 1  # no reconnect loop


async def test_the_fake_recommends_shards_and_refuses_an_invalid_one(dc: DiscordFake) -> None:
    dc.recommended_shards = 3
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{dc.api_base_url}/gateway/bot") as response:
            assert (await response.json())["shards"] == 3
        async with session.ws_connect(dc.gateway_url) as ws:
            hello = await ws.receive_json(timeout=WAIT)
            assert hello["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "t", "intents": 0, "shard": [2, 2]}})
            closed = await ws.receive(timeout=WAIT)
            assert closed.type is aiohttp.WSMsgType.CLOSE
            assert closed.data == 4010
    assert dc.identified_shards == []


def discord_section(raw: dict[str, object]) -> DiscordSettings:
    return parse_settings({"discord": raw}, {}, [plugin]).plugin("discord", DiscordSettings)


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({"shard_count": 0}, "discord.shard_count", ">= 1"),
        ({"shard_count": "2"}, "discord.shard_count", "expected int"),
        ({"shard_ids": [0]}, "discord.shard_ids", "needs discord.shard_count"),
        ({"shard_count": 2, "shard_ids": [0, 0]}, "discord.shard_ids", "twice"),
        ({"shard_count": 2, "shard_ids": [2]}, "discord.shard_ids", "out of range 0..1"),
        ({"shard_count": 2, "shard_ids": [-1]}, "discord.shard_ids", "out of range 0..1"),
        ({"shard_count": 2, "shard_ids": []}, "discord.shard_ids", "non-empty list"),
        ({"shard_count": 2, "shard_ids": "0"}, "discord.shard_ids", "non-empty list"),
        ({"shard_count": 2, "shard_ids": [True]}, "discord.shard_ids", "non-empty list"),
    ],
)
def test_wrong_shard_settings_name_the_key(raw: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        discord_section(raw)
    assert caught.value.key == key
    assert problem in str(caught.value)


def test_who_syncs_commands() -> None:
    assert discord_section({}).syncs_commands  # unsharded
    assert discord_section({"shard_count": 4}).syncs_commands  # runs every shard
    assert discord_section({"shard_count": 4, "shard_ids": [1, 0]}).syncs_commands
    later = discord_section({"shard_count": 4, "shard_ids": [2, 3]})
    assert later.shard_ids == (2, 3)
    assert not later.syncs_commands

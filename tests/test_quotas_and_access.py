"""Daily quotas, in-flight limits and access lists: checked before any download or model call."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot.app import open_engine
from bot.config import AccessSettings, LimitSettings, Settings
from bot.limits import AccessPolicy
from bot.outcome import FailureKind
from bot.request import Author, ChatKey, ImageSource
from tests.conftest import ALICE, CHAT, RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake, Reply


def limited(settings: Settings, **limits: int) -> Settings:
    return dataclasses.replace(settings, limits=dataclasses.replace(settings.limits, **limits))


def counting_source(fetched: list[int]) -> ImageSource:
    async def fetch() -> bytes:
        fetched.append(1)
        return photo()

    return ImageSource(fetch, 1000, "image/jpeg")


async def test_daily_user_quota_charges_only_successes(tmp_path: Path, gemini: GeminiFake) -> None:
    settings = limited(make_settings(tmp_path, gemini), daily_images_per_user=2)
    gemini.script(Reply.image(), Reply.finish("IMAGE_SAFETY"), Reply.image())
    fetched: list[int] = []
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        for _ in range(3):  # success, blocked (not charged), success
            req = request("edit")
            await engine.handle(
                dataclasses.replace(req, images=(counting_source(fetched),)), outbox
            )
        assert [type(o).__name__ for o in outbox.outcomes] == ["Success", "Failure", "Success"]
        req = request("one more")
        await engine.handle(dataclasses.replace(req, images=(counting_source(fetched),)), outbox)
        assert outbox.failure.kind is FailureKind.QUOTA
        assert "used your 2 images for today" in outbox.failure.message
        usage = await engine.usage_text(CHAT, ALICE)
        # Admins are exempt.
        admin_settings = dataclasses.replace(settings, access=AccessSettings(admins=("alice",)))
    assert len(gemini.requests) == 3
    assert len(fetched) == 3, "the refused request downloaded nothing"
    assert "2 of 2 images" in usage
    async with open_engine(admin_settings) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("admin edit", photo()), outbox)
        assert outbox.success.images


async def test_chat_pool_is_shared_by_members(tmp_path: Path, gemini: GeminiFake) -> None:
    settings = limited(make_settings(tmp_path, gemini), daily_images_per_chat=2)
    guild_chat = ChatKey("discord", "channel-1", guild_id="guild-9")
    other_channel = ChatKey("discord", "channel-2", guild_id="guild-9")
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        for n, chat in enumerate((guild_chat, other_channel, guild_chat)):
            await engine.handle(request("x", photo(), chat=chat, author=Author(f"u{n}")), outbox)
        assert outbox.failure.kind is FailureKind.QUOTA
        assert "This chat has used its 2 images" in outbox.failure.message
        status = await engine.quota_status(other_channel, Author("u9"))
    assert status.pool_used == 2
    assert len(gemini.requests) == 2


async def test_in_flight_limit_per_user(tmp_path: Path, gemini: GeminiFake) -> None:
    gemini.latency = 0.5
    settings = limited(make_settings(tmp_path, gemini), max_inflight_per_user=2)
    async with open_engine(settings) as engine:
        outboxes = [RecordingOutbox() for _ in range(3)]
        first_two = [
            asyncio.create_task(engine.handle(request(f"x{n}", photo()), outboxes[n]))
            for n in range(2)
        ]
        await gemini.wait_for_requests(2)
        await engine.handle(request("third", photo()), outboxes[2])
        assert outboxes[2].failure.kind is FailureKind.QUOTA
        assert "already have 2 requests running" in outboxes[2].failure.message
        await asyncio.gather(*first_two)
        # Once they finished, the user may go on.
        await engine.handle(request("fourth", photo()), outboxes[2])
        assert outboxes[2].success.images


async def test_retry_counts_against_the_quota(tmp_path: Path, gemini: GeminiFake) -> None:
    settings = limited(make_settings(tmp_path, gemini), daily_images_per_user=1)
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("edit", photo()), outbox)
        await engine.retry(CHAT, ALICE, outbox.success.model_turn_id, outbox)
    assert outbox.failure.kind is FailureKind.QUOTA
    assert len(gemini.requests) == 1


def test_block_and_allow_lists() -> None:
    policy = AccessPolicy(
        AccessSettings(
            blocked_users=("telegram:5",),
            blocked_chats=("66",),
            allowed_guilds=("g1",),
            blocked_roles=("muted",),
            allowed_roles=("artists", "mods"),
            admins=("5",),
        )
    )
    guild = ChatKey("discord", "c1", guild_id="g1")
    assert policy.allows(guild, Author("7", roles=("artists",)))
    assert not policy.allows(guild, Author("7", roles=("artists", "muted")))
    assert not policy.allows(guild, Author("7", roles=()))
    assert not policy.allows(ChatKey("discord", "c1", guild_id="g2"), Author("7", roles=("mods",)))
    # DMs have no roles or guild: the role and guild lists do not apply there.
    assert policy.allows(ChatKey("discord", "dm"), Author("7"))
    assert not policy.allows(ChatKey("telegram", "66"), Author("8"))
    # Admins pass every list (user 5 is blocked on Telegram, but is a bot admin).
    assert policy.allows(ChatKey("telegram", "66"), Author("5"))


async def test_limits_from_config(tmp_path: Path, gemini: GeminiFake) -> None:
    settings = make_settings(tmp_path, gemini)
    assert settings.limits == LimitSettings()
    assert settings.limits.max_inflight_per_user == 2

"""Access rules, the FIFO model gate with queue positions, and the message catalog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import messages
from bot.app import open_engine
from bot.config import AccessSettings
from bot.engine import failure_for
from bot.errors import InputRejected
from bot.limits import AccessPolicy, ModelGate
from bot.outcome import FailureKind
from bot.request import Author, ChatKey
from tests.conftest import RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake

TG = ChatKey("telegram", "100")


def test_access_policy() -> None:
    open_policy = AccessPolicy(AccessSettings())
    assert open_policy.allows(TG, Author("1"))
    policy = AccessPolicy(
        AccessSettings(allowed_chats=("telegram:100",), allowed_users=("7", "8"), admins=("9",))
    )
    assert policy.allows(TG, Author("7"))
    assert not policy.allows(TG, Author("6"))
    assert not policy.allows(ChatKey("telegram", "200"), Author("7"))
    assert not policy.allows(ChatKey("discord", "100"), Author("7"))  # scoped to telegram
    assert policy.allows(ChatKey("discord", "555"), Author("9"))  # admins pass everywhere


async def test_denied_user_gets_a_reply_and_nothing_is_downloaded(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    settings = make_settings(tmp_path / "d", gemini)
    settings = type(settings)(
        gemini=settings.gemini,
        storage=settings.storage,
        access=AccessSettings(allowed_users=("someone-else",)),
    )
    async with open_engine(settings) as engine:
        outbox = RecordingOutbox()
        await engine.handle(request("blue", photo()), outbox)
    assert outbox.failure.kind is FailureKind.ACCESS
    assert gemini.requests == []


async def test_gate_is_fifo_and_reports_positions() -> None:
    gate = ModelGate(1)
    order: list[str] = []
    positions: dict[str, int] = {}
    release = asyncio.Event()

    async def job(name: str) -> None:
        async def queued(position: int) -> None:
            positions[name] = position

        async with gate.slot(queued):
            order.append(name)
            if name == "a":
                await release.wait()

    first = asyncio.create_task(job("a"))
    await asyncio.wait_for(_until(lambda: order == ["a"]), 5)
    rest = [asyncio.create_task(job(n)) for n in "bcd"]
    await asyncio.wait_for(_until(lambda: gate.waiting == 3), 5)
    release.set()
    await asyncio.gather(first, *rest)
    assert order == ["a", "b", "c", "d"]
    assert positions == {"b": 1, "c": 2, "d": 3}


async def test_cancelled_waiter_does_not_leak_its_slot() -> None:
    gate = ModelGate(1)
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.slot():
            await release.wait()

    async def waiter() -> None:
        async with gate.slot():
            pass

    held = asyncio.create_task(holder())
    await asyncio.wait_for(_until(lambda: gate._free == 0), 5)
    cancelled = asyncio.create_task(waiter())
    await asyncio.wait_for(_until(lambda: gate.waiting == 1), 5)
    cancelled.cancel()
    release.set()
    await held
    assert gate.waiting == 0
    async with asyncio.timeout(5), gate.slot():
        pass


async def _until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until `condition` holds (bounded by the caller's timeout)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_every_message_exists_in_every_language() -> None:
    assert messages.catalog_keys(messages.EN) == messages.catalog_keys(messages.ZH)
    assert messages.language_for("zh-CN") == messages.ZH
    assert messages.language_for("zh-hans") == messages.ZH
    assert messages.language_for("en-US") == messages.EN
    assert messages.language_for(None) == messages.EN
    assert messages.text("queued", "zh", position=2) == "你排在第 2 位。"


async def test_chat_settings_are_validated_per_model(tmp_path: Path, gemini: GeminiFake) -> None:
    settings = make_settings(tmp_path / "d", gemini, allowed_models=["gemini-3-pro-image-preview"])
    chat = ChatKey("test", "settings")
    async with open_engine(settings) as engine:
        choices = await engine.settings_service.choices(chat)
        assert choices["image_size"] == ()  # 2.5 Flash Image has one size
        assert choices["model"] == ("gemini-2.5-flash-image", "gemini-3-pro-image-preview")
        await engine.settings_service.change(chat, "model", "gemini-3-pro-image-preview")
        await engine.settings_service.change(chat, "image_size", "4K")
        await engine.settings_service.change(chat, "aspect_ratio", "16:9")
        with pytest.raises(InputRejected):
            await engine.settings_service.change(chat, "model", "gemini-99")
        outbox = RecordingOutbox()
        await engine.handle(request("a cat", chat=chat), outbox)
        # Back to a model without sizes: the stale size is dropped, the ratio kept.
        await engine.settings_service.change(chat, "model", "gemini-2.5-flash-image")
        assert await engine.settings_service.stored(chat) == {
            "aspect_ratio": "16:9",
            "model": "gemini-2.5-flash-image",
        }
        usage = await engine.quota_status(chat, request("x").author)
    config = gemini.requests[0].generation_config or {}
    assert gemini.requests[0].model == "gemini-3-pro-image-preview"
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "4K"}
    assert usage.user_used == 1


def test_a_bad_setting_explains_itself() -> None:
    """Regression: `bad_setting` has a `key` parameter, like `messages.text` itself had."""
    failure = failure_for(
        InputRejected("bad_setting", key="aspect_ratio", value="7:3"), "en", None
    )
    assert failure.message == "7:3 is not a valid choice for Aspect ratio."
    chinese = failure_for(InputRejected("bad_setting", key="model", value="x"), "zh", None)
    assert chinese.message == "x 不是“模型”的有效选项。"


async def test_threads_use_their_channels_settings(tmp_path: Path, gemini: GeminiFake) -> None:
    settings = make_settings(tmp_path / "d", gemini)
    channel = ChatKey("test", "channel-1", guild_id="g")
    thread = ChatKey("test", "thread-9", "thread-9", "g", parent_id="channel-1")
    async with open_engine(settings) as engine:
        await engine.settings_service.change(channel, "aspect_ratio", "16:9")
        assert await engine.settings_service.stored(thread) == {"aspect_ratio": "16:9"}
        await engine.settings_service.change(
            thread, "language", "zh-Hans"
        )  # changes the channel's
        assert (await engine.settings_service.stored(channel))["language"] == "zh-Hans"
        assert await engine.locale(thread, Author("u1", locale="en")) == "zh-Hans"
        await engine.handle(request("a fox", chat=thread), RecordingOutbox())
        assert gemini.requests[-1].raw["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"

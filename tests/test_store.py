"""The store: restarts, concurrent writers on one connection, content-addressed images."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import open_engine
from bot.lineage import Part, Role, TurnStatus
from bot.request import Author, ChatKey
from bot.store import Store, UsageRecord
from tests.conftest import RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake

CHAT = ChatKey("test", "c")


async def test_turns_links_and_settings_survive_reopening(tmp_path: Path) -> None:
    async with Store.open(tmp_path) as store:
        image = await store.put_image(b"\x89PNG fake", "image/png")
        user = await store.add_user_turn(
            CHAT, "alice", None, [Part(image=image), Part(text="blue")], message_ids=["m1"]
        )
        model = await store.add_model_turn(
            CHAT,
            user,
            "m",
            [Part(image=image, raw='{"thought_signature":"AAE="}')],
            UsageRecord(images=1, total_tokens=10),
            "alice",
        )
        await store.link(CHAT, ["m2"], model.id)
        await store.update_chat_settings(CHAT, {"aspect_ratio": "16:9", "language": "zh"})
    async with Store.open(tmp_path) as store:
        assert (await store.resolve_link(CHAT, "m2")) == model
        assert (await store.resolve_link(ChatKey("test", "other"), "m2")) is None
        reloaded = await store.get_turn(user.id)
        assert reloaded is not None and reloaded.status is TurnStatus.ANSWERED
        assert [t.id for t in await store.path(model.id)] == [user.id, model.id]
        assert await store.read_image(image) == b"\x89PNG fake"
        assert await store.chat_settings(CHAT) == {"aspect_ratio": "16:9", "language": "zh"}
        await store.update_chat_settings(CHAT, {"language": None})
        assert await store.chat_settings(CHAT) == {"aspect_ratio": "16:9"}
        assert (await store.usage_since("test", "alice", 0)).images == 1


async def test_identical_images_are_stored_once(tmp_path: Path) -> None:
    async with Store.open(tmp_path) as store:
        a = await store.put_image(b"same bytes", "image/png")
        b = await store.put_image(b"same bytes", "image/png")
    assert a == b
    assert len([p for p in (tmp_path / "images").rglob("*") if p.is_file()]) == 1


async def test_failed_transaction_rolls_back_only_itself(tmp_path: Path) -> None:
    async with Store.open(tmp_path) as store:

        async def doomed() -> None:
            async with store.transaction() as db:
                await db.execute(
                    "INSERT INTO lineages (platform, chat_id, created_at) VALUES ('x', 'y', 0)"
                )
                raise RuntimeError("boom")

        results = await asyncio.gather(
            doomed(),
            store.add_user_turn(CHAT, "bob", None, [Part(text="hi")], message_ids=["ok"]),
            return_exceptions=True,
        )
        assert isinstance(results[0], RuntimeError)
        assert await store.resolve_link(CHAT, "ok") is not None
        rows = await store._rows("SELECT COUNT(*) FROM lineages WHERE platform = 'x'")
        assert rows[0][0] == 0


async def test_200_concurrent_steps_from_different_chats(tmp_path: Path) -> None:
    async with GeminiFake() as fake:
        fake.latency = 0.01
        settings = make_settings(tmp_path / "data", fake, max_concurrent_requests=50)
        async with open_engine(settings) as engine:
            outboxes = [RecordingOutbox() for _ in range(200)]
            image = photo()
            await asyncio.gather(
                *(
                    engine.handle(
                        request(
                            "edit", image, chat=ChatKey("test", f"c{i}"), author=Author(f"u{i}")
                        ),
                        box,
                    )
                    for i, box in enumerate(outboxes)
                )
            )
            store = engine.store
            counts = await store._rows("SELECT role, status, COUNT(*) FROM turns GROUP BY 1, 2")
            links = await store._rows("SELECT COUNT(*) FROM links")
            assert await store.integrity_check() == "ok"
    assert sorted(tuple(r) for r in counts) == [
        (Role.MODEL.value, "ok", 200),
        (Role.USER.value, "answered", 200),
    ]
    assert links[0][0] == 400  # each user message and each posted result
    assert all(box.success.images for box in outboxes)


async def test_path_of_a_missing_parent_is_refused(tmp_path: Path) -> None:
    async with Store.open(tmp_path) as store:
        with pytest.raises(LookupError):
            await store.add_user_turn(CHAT, "a", 999, [Part(text="x")], message_ids=())

"""The store contract: what `bot.store.Store` promises, checked on every implementation.

Each test runs once per backend in `BACKENDS`; a new store (PostgreSQL) adds its name there and
one branch in `open_store`, and must pass every test unchanged. Tests use the protocol only:
what a backend keeps on disk is checked in its own module (`test_sqlite_store.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bot.lineage import ImageRef, Part, Role, Turn, TurnStatus
from bot.request import ChatKey
from bot.store import PendingTurn, Reference, Store, UsageRecord, UsageTotals
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from tests.postgres_server import new_database

BACKENDS = ["sqlite", "postgresql"]
CHAT = ChatKey("test", "c")
OTHER_CHAT = ChatKey("test", "d")
OTHER_PLATFORM = ChatKey("other", "c")
ONE_IMAGE = UsageRecord(images=1, total_tokens=10)
SIGNED = '{"inline_data": {"mime_type": "image/png"}, "thought_signature": "AAE=", "x": "é"}'

Opener = Callable[[], AbstractAsyncContextManager[Store]]


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Open the backend under test at one place; every call is a new connection to it."""
    if request.param == "sqlite":
        return lambda: SqliteStore.open(tmp_path / "store")
    if request.param == "postgresql":
        url = await new_database(request.getfixturevalue("postgres_url"))
        return lambda: PostgresStore.open(url)
    raise AssertionError(f"no such backend: {request.param}")


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[Store]:
    async with open_store() as opened:
        yield opened


async def ask(
    store: Store,
    text: str,
    parent: Turn | None = None,
    *,
    author: str = "alice",
    chat: ChatKey = CHAT,
    message_ids: Sequence[str] = (),
    images: Sequence[ImageRef] = (),
    status: TurnStatus = TurnStatus.PENDING,
    locale: str | None = None,
) -> Turn:
    """A user turn: the images, then the text."""
    parts = [*(Part(image=i) for i in images), Part(text=text)]
    return await store.add_user_turn(
        chat,
        author,
        parent.id if parent else None,
        parts,
        message_ids=message_ids,
        status=status,
        locale=locale,
    )


async def answer(
    store: Store,
    user_turn: Turn,
    *,
    chat: ChatKey = CHAT,
    author: str = "alice",
    parts: Sequence[Part] = (Part(text="done"),),
    usage: UsageRecord = ONE_IMAGE,
) -> Turn:
    """The model's answer to `user_turn`."""
    return await store.add_model_turn(chat, user_turn, "gemini-test", parts, usage, author)


async def clock_passes(moment: float) -> None:
    """Wait until the wall clock is past `moment`, so the next row is strictly later."""
    async with asyncio.timeout(5):
        while time.time() <= moment:  # noqa: ASYNC110 - a bounded wait on the clock, no sleep
            await asyncio.sleep(0)


def ids(turns: Sequence[Turn]) -> list[int]:
    return [t.id for t in turns]


async def test_the_backend_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)


async def test_identical_images_are_kept_once_and_read_back_exactly(store: Store) -> None:
    data = b"\x89PNG\r\n\x1a\n some picture"
    first = await store.put_image(data, "image/png")
    again = await store.put_image(data, "image/png")
    other = await store.put_image(b"other bytes", "image/jpeg")
    assert first == again == ImageRef(hashlib.sha256(data).hexdigest(), "image/png", len(data))
    assert other != first and other.mime_type == "image/jpeg"
    assert await store.read_image(first) == data
    assert await store.read_image(other) == b"other bytes"


async def test_an_image_never_put_cannot_be_read(store: Store) -> None:
    with pytest.raises(FileNotFoundError):
        await store.read_image(ImageRef("0" * 64, "image/png", 3))


async def test_the_store_answers_a_ping_and_counts_each_image_once(store: Store) -> None:
    await store.ping()
    assert await store.count_images() == 0
    await store.put_image(b"one", "image/png")
    await store.put_image(b"one", "image/png")  # the same bytes: still one image
    await store.put_image(b"two", "image/jpeg")
    assert await store.count_images() == 2


async def test_a_user_turn_comes_back_with_its_parts_in_order(store: Store) -> None:
    photo = await store.put_image(b"photo", "image/jpeg")
    sketch = await store.put_image(b"sketch", "image/png")
    parts = [Part(image=photo), Part(image=sketch), Part(text="make it blue, 蓝色")]
    turn = await store.add_user_turn(CHAT, "alice", None, parts, message_ids=["m1"])
    assert (turn.role, turn.author_id, turn.status, turn.parent_id) == (
        Role.USER,
        "alice",
        TurnStatus.PENDING,
        None,
    )
    assert turn.parts == tuple(parts) and turn.model is None and turn.created_at > 0
    assert await store.get_turn(turn.id) == turn
    assert await store.get_turn(turn.id + 1000) is None


async def test_a_model_turn_keeps_thoughts_and_raw_json_byte_for_byte(store: Store) -> None:
    user = await ask(store, "draw a pear")
    draft = await store.put_image(b"draft", "image/png")
    result = await store.put_image(b"result", "image/png")
    parts = [
        Part(text="thinking about pears", thought=True, raw='{"text":"thinking","thought":true}'),
        Part(image=draft, thought=True, raw='{"thought": true}'),
        Part(text="Here it is", raw='{"text": "Here it is"}'),
        Part(image=result, raw=SIGNED),
    ]
    model = await answer(store, user, parts=parts)
    assert (model.role, model.author_id, model.status, model.model) == (
        Role.MODEL,
        "model",
        TurnStatus.OK,
        "gemini-test",
    )
    assert (model.parent_id, model.lineage_id) == (user.id, user.lineage_id)
    loaded = await store.get_turn(model.id)
    assert loaded == model
    assert loaded.parts == tuple(parts)
    assert loaded.parts[3].raw == SIGNED and json.loads(SIGNED)["x"] == "é"
    assert loaded.images == (result,) and loaded.text == "Here it is"


async def test_an_answer_marks_its_user_turn_answered(store: Store) -> None:
    user = await ask(store, "draw")
    await store.set_status(user.id, TurnStatus.FAILED, "ModelTimeout")
    await answer(store, user)
    reloaded = await store.get_turn(user.id)
    assert reloaded is not None and reloaded.status is TurnStatus.ANSWERED


async def test_set_status_moves_a_turn_between_states(store: Store) -> None:
    user = await ask(store, "draw")
    for status, error in (
        (TurnStatus.FAILED, "interrupted"),
        (TurnStatus.PENDING, None),
        (TurnStatus.DRAFT, None),
    ):
        await store.set_status(user.id, status, error)
        reloaded = await store.get_turn(user.id)
        assert reloaded is not None and reloaded.status is status
    await store.set_status(user.id + 1000, TurnStatus.FAILED, "nobody")  # unknown: ignored


async def test_roots_start_lineages_and_replies_join_their_parents(store: Store) -> None:
    first = await ask(store, "a pear")
    second = await ask(store, "a plum")
    result = await answer(store, first)
    reply = await ask(store, "bluer", result, chat=OTHER_CHAT)
    assert first.lineage_id != second.lineage_id
    assert result.lineage_id == reply.lineage_id == first.lineage_id
    assert reply.parent_id == result.id
    # The lineage belongs to the chat it started in.
    assert await store.lineage_chat(reply.id) == ("test", "c")
    assert await store.lineage_chat(second.id) == ("test", "c")
    assert await store.lineage_chat(reply.id + 1000) is None


async def test_a_missing_parent_is_refused_and_nothing_is_stored(store: Store) -> None:
    before = await ask(store, "first", message_ids=["m1"])
    with pytest.raises(LookupError):
        await store.add_user_turn(
            CHAT, "alice", before.id + 1000, [Part(text="x")], message_ids=["m2"]
        )
    assert await store.resolve_link(CHAT, "m2") is None
    assert await store.chat_latest(CHAT) == before
    assert await store.turns_by_author("test", "alice") == [before.id]


async def test_path_runs_from_the_root_down_to_the_turn(store: Store) -> None:
    chain = [await ask(store, "root")]
    for n in range(4):
        chain.append(await answer(store, chain[-1]))
        chain.append(await ask(store, f"step {n}", chain[-1]))
    assert ids(await store.path(chain[-1].id)) == ids(chain)
    assert ids(await store.path(chain[3].id)) == ids(chain[:4])
    assert ids(await store.path(chain[0].id)) == [chain[0].id]
    # A branch from the middle shares the path up to where it forks.
    branch = await ask(store, "other way", chain[1])
    assert ids(await store.path(branch.id)) == [*ids(chain[:2]), branch.id]
    assert (await store.path(chain[-1].id))[-1] == await store.get_turn(chain[-1].id)
    assert await store.path(chain[-1].id + 1000) == []


async def test_latest_answer_is_the_last_reroll(store: Store) -> None:
    user = await ask(store, "draw")
    assert await store.latest_answer(user.id) is None
    await answer(store, user)
    reroll = await answer(store, user)
    await ask(store, "continue", reroll)  # a user child is no answer
    assert await store.latest_answer(user.id) == reroll
    assert await store.latest_answer(reroll.id) is None


async def test_links_are_scoped_by_platform_chat_and_message(store: Store) -> None:
    here = await ask(store, "here", message_ids=["42"])
    there = await ask(store, "there", chat=OTHER_CHAT, message_ids=["42"])
    result = await answer(store, here)
    await store.link(CHAT, (m for m in ["100", "101"]), result.id)
    assert await store.resolve_link(CHAT, "42") == await store.get_turn(here.id)
    assert await store.resolve_link(OTHER_CHAT, "42") == there
    assert await store.resolve_link(OTHER_PLATFORM, "42") is None
    assert await store.resolve_link(OTHER_CHAT, "100") is None
    assert await store.resolve_link(CHAT, "101") == await store.get_turn(result.id)
    assert await store.resolve_link(CHAT, "43") is None
    # Re-linking a message points it at the new turn; linking nothing is fine.
    await store.link(CHAT, ["42"], result.id)
    assert await store.resolve_link(CHAT, "42") == await store.get_turn(result.id)
    await store.link(CHAT, [], result.id)


async def test_message_ids_are_the_chats_links_with_a_prefix(store: Store) -> None:
    turn = await ask(store, "x", message_ids=["u5"])
    await store.link(CHAT, ["r1", "r2", "r10"], turn.id)
    await store.link(OTHER_CHAT, ["r3"], turn.id)
    assert sorted(await store.message_ids(CHAT, "r")) == ["r1", "r10", "r2"]
    assert sorted(await store.message_ids(CHAT)) == ["r1", "r10", "r2", "u5"]
    assert await store.message_ids(CHAT, "r1") in (["r1", "r10"], ["r10", "r1"])
    assert await store.message_ids(OTHER_PLATFORM, "r") == []


async def test_chat_latest_follows_the_newest_turn_until_cleared(store: Store) -> None:
    assert await store.chat_latest(CHAT) is None
    user = await ask(store, "draw")
    assert await store.chat_latest(CHAT) == user
    result = await answer(store, user)
    elsewhere = await ask(store, "elsewhere", chat=OTHER_CHAT)
    assert await store.chat_latest(CHAT) == await store.get_turn(result.id)
    assert await store.chat_latest(OTHER_CHAT) == elsewhere
    await store.update_chat_settings(CHAT, {"language": "zh"})
    assert await store.chat_latest(CHAT) == await store.get_turn(result.id)

    await store.clear_latest(CHAT)
    assert await store.chat_latest(CHAT) is None
    assert await store.chat_latest(OTHER_CHAT) == elsewhere
    assert await store.chat_settings(CHAT) == {"language": "zh"}
    await store.clear_latest(ChatKey("test", "never seen"))
    again = await ask(store, "again")
    assert await store.chat_latest(CHAT) == again


async def test_chat_settings_set_clear_and_merge(store: Store) -> None:
    assert await store.chat_settings(CHAT) == {}
    await store.update_chat_settings(CHAT, {"aspect_ratio": "16:9", "language": "zh"})
    await store.update_chat_settings(CHAT, {"model": "m"})
    assert await store.chat_settings(CHAT) == {
        "aspect_ratio": "16:9",
        "language": "zh",
        "model": "m",
    }
    await store.update_chat_settings(CHAT, {"language": None, "never_set": None, "model": "n"})
    assert await store.chat_settings(CHAT) == {"aspect_ratio": "16:9", "model": "n"}
    assert await store.chat_settings(OTHER_CHAT) == {}
    assert await store.chat_settings(OTHER_PLATFORM) == {}
    await store.update_chat_settings(OTHER_CHAT, {"language": None})
    assert await store.chat_settings(OTHER_CHAT) == {}


async def test_concurrent_settings_changes_keep_every_key(store: Store) -> None:
    await asyncio.gather(
        *(store.update_chat_settings(CHAT, {f"key{n}": str(n)}) for n in range(20))
    )
    assert await store.chat_settings(CHAT) == {f"key{n}": str(n) for n in range(20)}


async def test_usage_sums_per_user_and_pool_since_a_time(store: Store) -> None:
    guild_a = ChatKey("test", "a", guild_id="g")
    guild_b = ChatKey("test", "b", guild_id="g")
    first = await answer(
        store,
        await ask(store, "1", chat=guild_a),
        chat=guild_a,
        usage=UsageRecord(images=1, prompt_tokens=3, output_tokens=4, total_tokens=7),
    )
    await clock_passes(first.created_at)
    later = await answer(
        store,
        await ask(store, "2", chat=guild_b),
        chat=guild_b,
        usage=UsageRecord(images=2, total_tokens=20),
    )
    await answer(
        store,
        await ask(store, "3", author="bob"),
        author="bob",
        usage=UsageRecord(images=4, total_tokens=40),
    )
    await answer(
        store, await ask(store, "4", chat=OTHER_PLATFORM), chat=OTHER_PLATFORM
    )  # another platform's alice

    assert await store.usage_since("test", "alice", 0) == UsageTotals(3, 27)
    assert await store.usage_since("test", "alice", later.created_at) == UsageTotals(2, 20)
    assert await store.usage_since("test", "bob", 0) == UsageTotals(4, 40)
    assert await store.usage_since("other", "alice", 0) == UsageTotals(1, 10)
    assert await store.usage_since("test", "carol", 0) == UsageTotals(0, 0)
    assert await store.pool_usage_since("test", "g", 0) == UsageTotals(3, 27)
    assert await store.pool_usage_since("test", "g", later.created_at) == UsageTotals(2, 20)
    assert await store.pool_usage_since("test", "c", 0) == UsageTotals(4, 40)  # no guild: chat
    assert await store.pool_usage_since("test", "a", 0) == UsageTotals(0, 0)
    assert await store.usage_since("test", "alice", time.time() + 60) == UsageTotals(0, 0)


async def test_usage_outlives_the_turns_it_was_for(store: Store) -> None:
    user = await ask(store, "draw")
    await answer(store, user, usage=UsageRecord(images=1, total_tokens=10))
    await store.delete_turns(await store.turns_by_author("test", "alice"))
    assert await store.usage_since("test", "alice", 0) == UsageTotals(1, 10)
    assert await store.pool_usage_since("test", "c", 0) == UsageTotals(1, 10)


async def test_pending_turns_are_the_unanswered_ones_oldest_first(store: Store) -> None:
    waiting = await ask(store, "1", message_ids=["m1"], locale="zh")
    unlinked = await ask(store, "2", author="bob", chat=OTHER_CHAT)
    await answer(store, await ask(store, "answered"))
    failed = await ask(store, "failed")
    await store.set_status(failed.id, TurnStatus.FAILED, "boom")
    await ask(store, "a picture, no words yet", status=TurnStatus.DRAFT)
    await ask(store, "elsewhere", chat=OTHER_PLATFORM)
    assert await store.pending_turns("test") == [
        PendingTurn(waiting.id, CHAT, "alice", "zh", "m1"),
        PendingTurn(unlinked.id, OTHER_CHAT, "bob", None, None),
    ]
    await store.set_status(waiting.id, TurnStatus.FAILED, "interrupted")
    assert [p.turn_id for p in await store.pending_turns("test")] == [unlinked.id]
    assert [p.chat for p in await store.pending_turns("other")] == [OTHER_PLATFORM]
    assert await store.pending_turns("nowhere") == []


async def test_turns_by_author_are_their_user_turns_and_the_answers(store: Store) -> None:
    mine = await ask(store, "mine")
    my_result = await answer(store, mine)
    my_reroll = await answer(store, mine)
    bobs = await ask(store, "bob continues", my_result, author="bob")
    bobs_result = await answer(store, bobs, author="bob")
    mine_again = await ask(store, "mine again", bobs_result)
    elsewhere = await ask(store, "other platform", chat=OTHER_PLATFORM)
    assert sorted(await store.turns_by_author("test", "alice")) == sorted(
        [mine.id, my_result.id, my_reroll.id, mine_again.id]
    )
    assert sorted(await store.turns_by_author("test", "bob")) == sorted([bobs.id, bobs_result.id])
    assert await store.turns_by_author("other", "alice") == [elsewhere.id]
    assert await store.turns_by_author("test", "carol") == []


async def test_turns_older_than_a_cutoff(store: Store) -> None:
    old = await ask(store, "old")
    old_result = await answer(store, old)
    await clock_passes(old_result.created_at)
    new = await ask(store, "new", chat=OTHER_PLATFORM)
    assert sorted(await store.turns_older_than(new.created_at)) == [old.id, old_result.id]
    assert sorted(await store.turns_older_than(time.time() + 60)) == sorted(
        [old.id, old_result.id, new.id]
    )
    assert await store.turns_older_than(0) == []


async def test_deleting_turns_re_roots_the_branches_of_others(store: Store) -> None:
    mine = await ask(store, "mine", message_ids=["m1"])
    my_result = await answer(store, mine)
    await store.link(CHAT, ["r1"], my_result.id)
    bobs = await ask(store, "bob continues", my_result, author="bob", message_ids=["m2"])
    bobs_result = await answer(store, bobs, author="bob")
    await store.link(CHAT, ["r2"], bobs_result.id)
    mine_again = await ask(store, "mine again", my_result, message_ids=["m3"])

    doomed = await store.turns_by_author("test", "alice")
    assert await store.delete_turns(doomed) == 3
    for turn_id in (mine.id, my_result.id, mine_again.id):
        assert await store.get_turn(turn_id) is None
    for message_id in ("m1", "r1", "m3"):
        assert await store.resolve_link(CHAT, message_id) is None
    rooted = await store.get_turn(bobs.id)
    assert rooted is not None and rooted.parent_id is None and rooted.parts == bobs.parts
    assert ids(await store.path(bobs_result.id)) == [bobs.id, bobs_result.id]
    assert await store.resolve_link(CHAT, "r2") == await store.get_turn(bobs_result.id)
    assert await store.lineage_chat(bobs.id) == ("test", "c")
    # The chat's latest was the deleted "mine again".
    assert await store.chat_latest(CHAT) is None
    assert await store.delete_turns([]) == 0
    await store.delete_turns([mine.id])  # already gone: nothing happens


async def test_deleting_turns_collects_unused_images_and_keeps_shared_ones(
    store: Store,
) -> None:
    shared = await store.put_image(b"shared", "image/png")
    only_mine = await store.put_image(b"only mine", "image/png")
    mine = await ask(store, "mine", images=[shared, only_mine])
    await answer(store, mine, parts=[Part(image=only_mine, raw='{"x": 1}')])
    bobs = await ask(store, "bob's", author="bob", images=[shared])
    await store.delete_turns(await store.turns_by_author("test", "alice"))
    with pytest.raises(FileNotFoundError):
        await store.read_image(only_mine)
    assert await store.read_image(shared) == b"shared"
    assert await store.get_turn(bobs.id) == bobs


async def test_an_image_put_survives_deletions_until_its_turn_is_stored(store: Store) -> None:
    other = await ask(store, "bob's", author="bob", images=[await store.put_image(b"o", "x/y")])
    waiting = await store.put_image(b"not in a turn yet", "image/png")
    await store.delete_turns([other.id])  # /forget or retention elsewhere, meanwhile
    assert await store.read_image(waiting) == b"not in a turn yet"
    turn = await store.add_user_turn(CHAT, "alice", None, [Part(image=waiting)])
    await store.delete_turns([turn.id])
    with pytest.raises(FileNotFoundError):
        await store.read_image(waiting)


async def reference(
    store: Store,
    name: str,
    *pictures: bytes,
    scope: str = "chat:c",
    owner: str = "alice",
    prompt: str = "",
    platform: str = "test",
) -> Reference:
    images = tuple([await store.put_image(p, "image/png") for p in pictures])
    saved = Reference(platform, scope, name, owner, images, prompt, created_at=time.time())
    await store.save_reference(saved)
    return saved


async def test_references_keep_their_images_in_order_by_scope_then_name(store: Store) -> None:
    mascot = await reference(store, "Mascot", b"front", b"side", b"back")
    style = await reference(store, "noir", prompt="black and white, hard shadows")
    mine = await reference(store, "me", b"selfie", scope="user:alice")
    await reference(store, "elsewhere", b"x", scope="chat:d")
    await reference(store, "other platform", b"y", platform="other")
    found = await store.references("test", ["user:alice", "chat:c"])
    assert found == [mine, mascot, style]
    assert [await store.read_image(i) for i in found[1].images] == [b"front", b"side", b"back"]
    assert found[1].key == "mascot"
    assert await store.references("test", []) == []
    assert [r.name for r in await store.references("other", ["chat:c"])] == ["other platform"]
    owned = await store.references_by_owner("test", "alice")
    assert {r.name for r in owned} == {"Mascot", "noir", "me", "elsewhere"}
    assert await store.references_by_owner("test", "bob") == []


async def test_saving_a_name_again_replaces_it_whatever_its_case(store: Store) -> None:
    old = await reference(store, "Hero", b"old hero")
    new = await reference(store, "HERO", b"new hero", owner="bob")
    assert await store.references("test", ["chat:c"]) == [new]
    with pytest.raises(FileNotFoundError):
        await store.read_image(old.images[0])  # the replaced one's picture is gone
    same_name_personal = await reference(store, "hero", b"mine", scope="user:alice")
    assert await store.references("test", ["chat:c", "user:alice"]) == [new, same_name_personal]


async def test_reference_images_outlive_the_turns_they_came_from(store: Store) -> None:
    picture = await store.put_image(b"from a result", "image/png")
    turn = await ask(store, "a hero", images=[picture])
    await store.save_reference(Reference("test", "chat:c", "hero", "alice", (picture,)))
    await store.delete_turns([turn.id])  # retention, or /forget of the turn's author
    assert await store.read_image(picture) == b"from a result"
    assert await store.delete_reference("test", "chat:c", "hero")
    assert not await store.delete_reference("test", "chat:c", "hero")
    with pytest.raises(FileNotFoundError):
        await store.read_image(picture)
    assert await store.references("test", ["chat:c"]) == []


async def test_a_deleted_reference_leaves_images_still_in_use(store: Store) -> None:
    shared = await store.put_image(b"shared", "image/png")
    kept = await ask(store, "uses it", images=[shared])
    await store.save_reference(Reference("test", "chat:c", "a", "alice", (shared,)))
    await store.save_reference(Reference("test", "chat:c", "b", "alice", (shared,)))
    await store.delete_reference("test", "chat:c", "a")
    await store.delete_turns([kept.id])
    assert await store.read_image(shared) == b"shared"  # "b" still has it


async def test_add_user_turn_has_committed_when_it_returns(open_store: Opener) -> None:
    async with open_store() as writer, open_store() as reader:
        turn = await ask(writer, "draw", message_ids=["m1"])
        assert await reader.get_turn(turn.id) == turn
        assert await reader.resolve_link(CHAT, "m1") == turn


async def test_50_concurrent_user_turns_all_commit_with_distinct_ids(
    open_store: Opener,
) -> None:
    async with open_store() as store:
        root = await answer(store, await ask(store, "root"))
        turns = await asyncio.gather(
            *(
                ask(
                    store,
                    f"turn {n}",
                    root if n % 2 else None,
                    author=f"u{n}",
                    chat=ChatKey("test", f"c{n % 5}"),
                    message_ids=[f"m{n}"],
                )
                for n in range(50)
            )
        )
    assert len({t.id for t in turns}) == 50
    assert len({t.lineage_id for t in turns if t.parent_id is None}) == 25
    async with open_store() as store:
        for n, turn in enumerate(turns):
            assert await store.resolve_link(ChatKey("test", f"c{n % 5}"), f"m{n}") == turn


async def test_ids_are_never_reused_after_deletion_retention_or_reopening(
    open_store: Opener,
) -> None:
    issued: set[int] = set()
    lineages: set[int] = set()

    async def step(store: Store, author: str, text: str) -> list[Turn]:
        user = await ask(store, text, author=author, message_ids=[text])
        turns = [user, await answer(store, user, author=author)]
        for turn in turns:
            assert turn.id > max(issued, default=0), "a new turn has a new, larger id"
        assert user.lineage_id not in lineages, "a new lineage has a new id"
        issued.update(ids(turns))
        lineages.add(user.lineage_id)
        return turns

    async with open_store() as store:
        await step(store, "bob", "one")
        alices = await step(store, "alice", "two")
        # The newest turns (and with them their lineage) go, as /forget does.
        await store.delete_turns(ids(alices))
        await step(store, "bob", "three")
        # Retention removes every turn there is.
        await store.delete_turns(await store.turns_older_than(time.time() + 60))
        assert await store.turns_by_author("test", "bob") == []
        await step(store, "bob", "four")
        await store.delete_turns(await store.turns_by_author("test", "bob"))
    async with open_store() as store:
        await step(store, "carol", "five")


async def test_everything_survives_reopening(open_store: Opener) -> None:
    async with open_store() as store:
        image = await store.put_image(b"\x89PNG fake", "image/png")
        user = await store.add_user_turn(
            CHAT,
            "alice",
            None,
            [Part(image=image), Part(text="blue")],
            message_ids=["m1"],
            locale="zh",
        )
        model = await answer(store, user, parts=[Part(image=image, raw=SIGNED)])
        await store.link(CHAT, ["m2"], model.id)
        waiting = await ask(store, "still waiting", model, message_ids=["m3"])
        await store.update_chat_settings(CHAT, {"aspect_ratio": "16:9", "language": "zh"})
        saved = await reference(store, "Hero", b"hero", prompt="in red")
    async with open_store() as store:
        assert await store.references("test", ["chat:c"]) == [saved]
        assert await store.read_image(saved.images[0]) == b"hero"
        assert await store.resolve_link(CHAT, "m2") == model
        assert await store.resolve_link(ChatKey("test", "other"), "m2") is None
        reloaded = await store.get_turn(user.id)
        assert reloaded is not None and reloaded.status is TurnStatus.ANSWERED
        assert ids(await store.path(waiting.id)) == [user.id, model.id, waiting.id]
        assert await store.latest_answer(user.id) == model
        assert await store.chat_latest(CHAT) == waiting
        assert await store.read_image(image) == b"\x89PNG fake"
        assert await store.chat_settings(CHAT) == {"aspect_ratio": "16:9", "language": "zh"}
        assert await store.usage_since("test", "alice", 0) == UsageTotals(1, 10)
        assert await store.pending_turns("test") == [
            PendingTurn(waiting.id, CHAT, "alice", None, "m3")
        ]

"""The coordination contract (`bot.coordination`), on every backend, and across two
instances sharing one PostgreSQL database (two stores, two pools: as two processes would)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncpg
import pytest

from bot.coordination import Hold, Holdings, Instance
from bot.lineage import Part, TurnStatus, UsageRecord
from bot.request import ChatKey
from bot.store import Store
from bot.store.postgres import PostgresStore
from bot.store.postgres.coordination import INSTANCE_LOCKS
from bot.store.sqlite import SqliteStore
from tests.postgres_server import new_database, running_postgres

BACKENDS = ["sqlite", "postgresql"]
CHAT = ChatKey("test", "c")
Opener = Callable[[Instance], AbstractAsyncContextManager[Store]]


class Refused(Exception):
    pass


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Open the backend under test as an instance; every call is a new process's store."""
    if request.param == "sqlite":
        return lambda instance: SqliteStore.open(tmp_path / "store", instance)
    url = await new_database(request.getfixturevalue("postgres_url"))
    return lambda instance: PostgresStore.open(url, 4, instance)


@pytest.fixture
async def two(request: pytest.FixtureRequest) -> tuple[Opener, Opener]:
    """Two instances on one PostgreSQL database."""
    url = await new_database(request.getfixturevalue("postgres_url"))
    return (
        lambda instance: PostgresStore.open(url, 4, instance),
        lambda instance: PostgresStore.open(url, 4, instance),
    )


def at_most(in_flight: int) -> Callable[[Holdings], None]:
    def admit(now: Holdings) -> None:
        if now.user_in_flight >= in_flight:
            raise Refused

    return admit


async def holds_admitted(stores: list[Store], tries: int, limit: int) -> list[int]:
    """`tries` concurrent holds of one user spread over `stores`; the ids admitted."""
    hold = Hold("test", "alice", "c", 1, 0.0)

    async def one(n: int) -> int | None:
        try:
            return await stores[n % len(stores)].coordination.hold(hold, 0.0, at_most(limit))
        except Refused:
            return None

    got = await asyncio.gather(*(one(n) for n in range(tries)))
    return [g for g in got if g is not None]


async def ask(store: Store, text: str = "draw") -> int:
    turn = await store.add_user_turn(CHAT, "alice", None, [Part(text=text)], message_ids=[text])
    return turn.id


async def test_holds_never_pass_a_limit_under_a_race(open_store: Opener) -> None:
    async with open_store(Instance("a")) as store:
        admitted = await holds_admitted([store], 30, 2)
        assert len(admitted) == 2
        await store.coordination.release(admitted[0])
        assert len(await holds_admitted([store], 10, 2)) == 1
        await store.coordination.release(12345)  # unknown: ignored


async def test_holdings_count_the_ledger_since_a_moment_and_the_holds(open_store: Opener) -> None:
    seen: list[Holdings] = []
    async with open_store(Instance("a")) as store:
        turn = await store.add_user_turn(CHAT, "alice", None, [Part(text="x")])
        usage = UsageRecord(images=1, total_tokens=5, cost_usd=0.04)
        await store.add_model_turn(CHAT, turn, "m", [Part(text="y")], usage, "alice")
        coordination = store.coordination
        await coordination.hold(Hold("test", "alice", "c", 2, 0.1), 0.0, seen.append)
        await coordination.hold(Hold("test", "bob", "c", 3, 0.2), 0.0, seen.append)
        await coordination.hold(Hold("test", "alice", "c", 1, 0.0), 0.0, seen.append)
        await coordination.hold(Hold("test", "alice", "c", 1, 0.0), 4e9, seen.append)
    assert seen[0] == Holdings(0, 1, pytest.approx(0.04), 1, pytest.approx(0.04), 0, 0, 0, 0)
    assert seen[1].user_in_flight == 0 and seen[1].pool_held_images == 2
    last = seen[2]
    assert (last.user_in_flight, last.user_held_images, last.pool_held_images) == (1, 2, 5)
    assert last.user_held_cost_usd == pytest.approx(0.1)
    assert last.pool_held_cost_usd == pytest.approx(0.3)
    assert (seen[3].user_images, seen[3].pool_images) == (0, 0)  # nothing since then


async def test_a_refusal_holds_nothing(open_store: Opener) -> None:
    async with open_store(Instance("a")) as store:
        with pytest.raises(Refused):
            await store.coordination.hold(Hold("test", "alice", "c", 1, 0.0), 0.0, at_most(0))
        assert len(await holds_admitted([store], 5, 1)) == 1


async def test_steps_of_a_run_that_is_gone_are_claimed_once(open_store: Opener) -> None:
    async with open_store(Instance("a", "run-1")) as store:
        interrupted = await ask(store)
        await store.coordination.hold(Hold("test", "alice", "c", 1, 0.0), 0.0, at_most(1))
    async with open_store(Instance("a", "run-2")) as store, store.coordination.alive():
        coordination = store.coordination
        running = await ask(store, "again")
        claimed = await coordination.claim_interrupted("test")
        assert [(p.turn_id, p.chat, p.author_id, p.message_id) for p in claimed] == [
            (interrupted, CHAT, "alice", "draw")
        ]
        assert await coordination.claim_interrupted("test") == []
        assert await coordination.claim_interrupted("other") == []
        gone = await store.get_turn(interrupted)
        assert gone is not None and gone.status is TurnStatus.FAILED
        mine = await store.get_turn(running)
        assert mine is not None and mine.status is TurnStatus.PENDING
        # The gone run's hold no longer counts.
        assert len(await holds_admitted([store], 3, 1)) == 1


async def test_exclusive_sections_and_marks(open_store: Opener) -> None:
    async with open_store(Instance("a")) as store:
        coordination = store.coordination
        async with coordination.exclusive("job") as first:
            async with coordination.exclusive("job") as second:
                assert (first, second) == (True, False)
            async with coordination.exclusive("other") as other:
                assert other
        async with coordination.exclusive("job") as again:
            assert again
        assert await coordination.mark("m") is None
        await coordination.set_mark("m", "1")
        await coordination.set_mark("m", "2")
        assert await coordination.mark("m") == "2"
        await coordination.set_mark("n", "3")
        assert await coordination.marks(["m", "n", "unset"]) == {"m": "2", "n": "3"}
        assert await coordination.marks([]) == {}
        await coordination.set_mark("m", None)
        assert await coordination.mark("m") is None


async def test_serialized_sections_run_one_after_the_other(open_store: Opener) -> None:
    async with open_store(Instance("a")) as store:
        inside: list[int] = []
        most = 0

        async def one() -> None:
            nonlocal most
            async with store.coordination.serialized("job"):
                inside.append(1)
                most = max(most, len(inside))
                await asyncio.sleep(0)
                inside.pop()

        await asyncio.gather(*(one() for _ in range(5)))
        assert most == 1


async def take_when_complete(store: Store, key: str) -> list[str]:
    """Ask until the group is complete (bounded by the group's max wait)."""
    async with asyncio.timeout(10):
        while isinstance(got := await store.coordination.take(key, 0.2, 2.0), float):  # noqa: ASYNC110 - the wait it asks for
            await asyncio.sleep(got)
    return list(got)


async def test_a_group_is_taken_once_when_quiet(open_store: Opener) -> None:
    async with open_store(Instance("a")) as store:
        coordination = store.coordination
        assert await coordination.take("g", 0.2, 2.0) == []
        await coordination.gather("g", "1")
        await coordination.gather("g", "2")
        await coordination.gather("h", "other")
        first = await coordination.take("g", 0.2, 2.0)
        assert isinstance(first, float) and 0 < first <= 0.2
        assert await take_when_complete(store, "g") == ["1", "2"]
        assert await coordination.take("g", 0.2, 2.0) == []
        assert await take_when_complete(store, "h") == ["other"]


# Two instances on one PostgreSQL database ------------------------------------------------


async def test_two_instances_share_limits(two: tuple[Opener, Opener]) -> None:
    open_a, open_b = two
    async with open_a(Instance("a")) as a, open_b(Instance("b")) as b:
        assert len(await holds_admitted([a, b], 40, 2)) == 2


async def test_a_group_split_over_two_instances_goes_to_one(two: tuple[Opener, Opener]) -> None:
    open_a, open_b = two
    async with open_a(Instance("a")) as a, open_b(Instance("b")) as b:
        for n, store in enumerate([a, b, a, b]):
            await store.coordination.gather("album", str(n))
        got = await asyncio.gather(take_when_complete(a, "album"), take_when_complete(b, "album"))
        assert sorted(got, key=len) == [[], ["0", "1", "2", "3"]]


async def test_a_live_instances_steps_are_never_claimed(two: tuple[Opener, Opener]) -> None:
    open_a, open_b = two
    async with open_a(Instance("a")) as a, a.coordination.alive(), open_b(Instance("b")) as b:
        async with b.coordination.alive():
            turn = await ask(b)
            assert await a.coordination.claim_interrupted("test") == []
        # b stopped without answering: its step is a's to announce, once.
        claims = await asyncio.gather(
            a.coordination.claim_interrupted("test"), b.coordination.claim_interrupted("test")
        )
        assert sorted(len(c) for c in claims) == [0, 1]
        assert [p.turn_id for c in claims for p in c] == [turn]


async def test_one_name_is_served_by_one_process_at_a_time(two: tuple[Opener, Opener]) -> None:
    open_a, open_b = two
    async with (
        open_a(Instance("same", "run-1")) as first,
        open_b(Instance("same", "run-2")) as late,
    ):
        entered = asyncio.Event()
        async with first.coordination.alive():
            turn = await ask(first)

            async def second() -> None:
                async with late.coordination.alive():
                    entered.set()
                    claimed = await late.coordination.claim_interrupted("test")
                    assert [p.turn_id for p in claimed] == [turn]

            waiting = asyncio.create_task(second())
            await wait_for_lock_waiter(first)
            assert not entered.is_set()
        async with asyncio.timeout(10):
            await waiting


async def wait_for_lock_waiter(store: Store) -> None:
    """Until some session waits for an advisory lock (the second process with one name)."""
    assert isinstance(store, PostgresStore)
    async with asyncio.timeout(10):
        while not await store._pool.fetchval(  # noqa: ASYNC110 - PostgreSQL has no such feed
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ):
            await asyncio.sleep(0.02)


async def test_an_image_another_instance_is_about_to_use_is_not_collected(
    two: tuple[Opener, Opener],
) -> None:
    open_a, open_b = two
    async with open_a(Instance("a")) as a, open_b(Instance("b")) as b:
        held = await a.put_image(b"held by a", "image/png")
        gone = await b.put_image(b"forgotten on b", "image/png")
        turn = await b.add_user_turn(CHAT, "bob", None, [Part(image=gone)])
        await b.delete_turns([turn.id])
        assert await a.read_image(held) == b"held by a"
        with pytest.raises(FileNotFoundError):
            await b.read_image(gone)
        turn = await a.add_user_turn(CHAT, "alice", None, [Part(image=held)])
        await a.delete_turns([turn.id])
        with pytest.raises(FileNotFoundError):
            await a.read_image(held)


async def test_a_live_instance_takes_its_name_again_after_the_database_restarts() -> None:
    """The session lock that says "alive" dies with its connection; the instance takes it
    again once the database is back, so a peer never takes its running steps for gone."""
    with running_postgres() as server:
        url = await new_database(server.url)
        async with (
            PostgresStore.open(url, 4, Instance("a")) as a,
            PostgresStore.open(url, 4, Instance("b")) as b,
        ):
            async with a.coordination.alive():
                turn = await ask(a)
                await asyncio.to_thread(server.stop)
                await asyncio.to_thread(server.start)
                await wait_for_name_held(url, "a")
                assert await b.coordination.claim_interrupted("test") == []
            claimed = await b.coordination.claim_interrupted("test")
            assert [p.turn_id for p in claimed] == [turn]


async def wait_for_name_held(url: str, name: str) -> None:
    """Until some session holds the instance lock on `name` again."""
    async with asyncio.timeout(30):
        while True:
            try:
                conn = await asyncpg.connect(url)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            try:
                held = await conn.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN instances i"
                    " ON l.objid = hashtext(i.name)::oid AND l.classid = $1::oid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND i.name = $2",
                    INSTANCE_LOCKS,
                    name,
                )
            finally:
                await conn.close()
            if held:
                return
            await asyncio.sleep(0.1)


async def test_an_image_put_by_two_steps_stays_held_until_both_stored(open_store: Opener) -> None:
    async with open_store(Instance("a")) as store:
        first = await store.put_image(b"twice", "image/png")
        await store.put_image(b"twice", "image/png")  # a second step of this run, same bytes
        turn = await store.add_user_turn(CHAT, "alice", None, [Part(image=first)])
        await store.delete_turns([turn.id])
        assert await store.read_image(first) == b"twice"  # the second step still holds it
        turn = await store.add_user_turn(CHAT, "alice", None, [Part(image=first)])
        await store.delete_turns([turn.id])
        with pytest.raises(FileNotFoundError):
            await store.read_image(first)

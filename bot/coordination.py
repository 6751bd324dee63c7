"""The coordination port: what several bot processes sharing one database agree through it.

A store hands out its `Coordination` (`Store.coordination`). On SQLite there is one process,
so the answers are simple; on PostgreSQL they are made with transactions, row locks and
advisory locks, and no process trusts another's memory. Every implementation passes
`tests/test_coordination_contract.py`.

Each process is an *instance*: a `name` (unique among the running ones: `[storage] instance`,
else host and process id) and a `run` token (new at every start). A user turn records the run
that serves it, so after a crash the turns of a run that is gone (nobody holds its name, or a
new run does) are found and announced, once, by whichever instance claims them first: the
restarted process at its start, or a peer's periodic sweep.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.store import PendingTurn

__all__ = ["Coordination", "Hold", "Holdings", "Instance"]


@dataclass(frozen=True, slots=True)
class Instance:
    """This process: its stable name and the token of this run."""

    # Unique by default: host and process. A fixed name (`[storage] instance`) only adds that
    # a second process given it waits for the first, never taking its steps for interrupted.
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    run: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass(frozen=True, slots=True)
class Hold:
    """What one step holds of its author's and pool's limits while it runs."""

    platform: str
    user_id: str
    pool: str
    images: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Holdings:
    """What a user and a pool have used since a moment, and hold in running steps now."""

    user_in_flight: int
    user_images: int  # recorded in the usage ledger since the moment asked for
    user_cost_usd: float
    pool_images: int
    pool_cost_usd: float
    user_held_images: int  # held by running steps, not recorded yet
    user_held_cost_usd: float
    pool_held_images: int
    pool_held_cost_usd: float

    @classmethod
    def of(cls, row: Sequence[Any]) -> Holdings:
        """From the nine figures of a store's holdings query, in field order."""
        n = [float(v) for v in row]
        return cls(int(n[0]), int(n[1]), n[2], int(n[3]), n[4], int(n[5]), n[6], int(n[7]), n[8])


@runtime_checkable
class Coordination(Protocol):
    """Shared state several instances agree on; every method is atomic across them."""

    @property
    def instance(self) -> Instance:
        """Who this process is."""

    @property
    def shared(self) -> bool:
        """Whether other processes may share the store (else every step runs here)."""

    def alive(self) -> AbstractAsyncContextManager[None]:
        """Hold this instance's name while the block runs.

        Only one process at a time holds a name: entering waits while another does (a
        previous run still closing), so two processes given one name serve one after the
        other instead of taking each other's steps for interrupted ones. On PostgreSQL the
        hold ends with the process, however it ends.
        """

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Run the block as the only holder of `name` among all instances, if nobody else
        holds it now: the block gets True then, else False at once (and should skip)."""

    def serialized(self, name: str) -> AbstractAsyncContextManager[None]:
        """Run the block as the only holder of `name`, waiting for the holder before."""

    async def mark(self, name: str) -> str | None:
        """The value last set for `name` (shared notes such as "webhook set for X")."""

    async def set_mark(self, name: str, value: str | None) -> None:
        """Set `name` (None removes it)."""

    async def marks(self, names: Sequence[str]) -> dict[str, str]:
        """The values set for those of `names` that are set."""

    async def hold(self, hold: Hold, since: float, admit: Callable[[Holdings], None]) -> int:
        """Hold `hold` if `admit` lets it, in one atomic step; return the hold's id.

        `admit` sees the author's and pool's `Holdings` (usage since `since`) and raises to
        refuse: then nothing is held and the exception propagates. No two holds of one user
        or one pool are admitted from the same figures, on any instance. Holds of runs that
        are gone do not count.
        """

    async def release(self, hold_id: int) -> None:
        """Let go of a hold (unknown ids are ignored)."""

    async def gather(self, key: str, item: str) -> None:
        """Add `item` to the group `key` (album items that arrive at different instances)."""

    async def take(self, key: str, quiet_s: float, max_wait_s: float) -> Sequence[str] | float:
        """The group's items in arrival order, handed to exactly one caller, once complete:
        `quiet_s` after its latest item, or `max_wait_s` after its first.

        Returns the seconds to wait before asking again while it is not complete, and an
        empty sequence when there is nothing to take (another instance took it).
        """

    async def claim_interrupted(self, platform: str) -> list[PendingTurn]:
        """Mark as failed, and return, the pending user turns on `platform` whose run is
        gone (a crash, a kill), oldest first. Each such turn is returned to exactly one
        caller on any instance, and never one a running instance is still serving."""

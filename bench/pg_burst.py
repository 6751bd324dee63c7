"""Benchmark 10 (issue 16): the burst on PostgreSQL, two instances behind one webhook URL.

Next to it, in the same run, the burst on one SQLite instance as shipped (long polling), which
is the yardstick: CPU per step of the two instances together <= 1.3 x the single instance's.
The two instances run in webhook mode (Telegram allows only one poller) behind the tests'
round-robin balancer, which runs in this driver; the Telegram fake POSTs each update to it.
Each PostgreSQL burst gets a fresh database on one server started for the whole section.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import procinfo
from bench.harness import (
    BotProcess,
    ConfigOverrides,
    Fakes,
    Message,
    bot_process,
    wait_ready,
    wait_webhooks,
)
from bench.report import SUMMARY_HEADER, Check, Section, Table, num, summary_cells
from bench.session import Session
from bench.stats import Summary, ratio
from tests.fakes.balancer import RoundRobin
from tests.postgres_server import new_database, postgres_server

FIRST_CHAT = 10_000
WARMUP_CHAT = 9_000  # warm-up chats count down from here, one per message
WARMUP_PER_INSTANCE = 2
INSTANCES = 2
HOOK_PATH = "/telegram/hook"
CPU_VS_SQLITE_TARGET = 1.3
SQLITE, POSTGRES = "sqlite x1", f"postgresql x{INSTANCES}"


@dataclass(frozen=True, slots=True)
class PgBurstRun:
    """One burst over one or more fresh bot processes."""

    photos: int
    wall_s: float  # first update available -> last sendPhoto held by the fake
    step_latencies_s: list[float]
    cpu_per_step_s: float  # summed over the instances
    peak_rss_kb: tuple[int, ...]  # per instance
    served: tuple[int, ...]  # burst updates each instance received
    db_cpu_per_step_s: float  # the PostgreSQL server's processes (NaN on SQLite)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _postmaster_pid(url: str) -> int:
    """The server's main process: the parent of a backend (its children are the server)."""
    connection = await asyncpg.connect(url)
    try:
        # Read while connected: the backend process exits with its connection.
        return _parent_pid(int(await connection.fetchval("SELECT pg_backend_pid()")))
    finally:
        await connection.close()


def _parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])  # the field after the state


async def _burst(
    session: Session,
    fakes: Fakes,
    bots: Sequence[BotProcess],
    balancer: RoundRobin | None,
    db_pid: int | None,
) -> PgBurstRun:
    """Warm each instance up with sequential steps, then release every chat's update at once."""
    plan = session.plan
    for n in range(WARMUP_PER_INSTANCE * len(bots)):  # round robin: each instance gets its share
        [warm] = await fakes.send([Message(WARMUP_CHAT - n)])
        complete, _ = await fakes.answers([warm.key], timeout=60)
        if not complete:
            raise RuntimeError(f"no answer to warm-up step {n} within 60 s")
        await asyncio.gather(*(bot.settle() for bot in bots))
    await fakes.set_model_latency(plan.burst_latency_s)
    served0 = dict(balancer.counts) if balancer else {}
    cpu0 = [bot.cpu_seconds() for bot in bots]
    db0 = procinfo.cpu_seconds(db_pid) if db_pid else math.nan
    chats = [Message(FIRST_CHAT + n) for n in range(plan.burst_chats)]
    released = await fakes.send(chats)
    _complete, answers = await fakes.answers(
        [r.key for r in released], timeout=120 + plan.burst_chats
    )
    peaks = tuple(bot.memory_kb()["VmHWM"] for bot in bots)
    await asyncio.gather(*(bot.settle(limit_s=30) for bot in bots))
    cpu = sum(bot.cpu_seconds() - c for bot, c in zip(bots, cpu0, strict=True))
    db = procinfo.cpu_seconds(db_pid) - db0 if db_pid else math.nan
    if balancer:
        served = tuple(balancer.counts[b] - served0[b] for b in balancer.backends)
    else:
        served = (len(released),)
    start = min(r.t_available for r in released)
    return PgBurstRun(
        photos=sum(1 for a in answers.values() if a.method == "sendPhoto"),
        wall_s=max(a.t for a in answers.values()) - start if answers else math.nan,
        step_latencies_s=[answers[r.key].t - r.t_available for r in released if r.key in answers],
        cpu_per_step_s=cpu / plan.burst_chats,
        peak_rss_kb=peaks,
        served=served,
        db_cpu_per_step_s=db / plan.burst_chats,
    )


async def measure_sqlite(session: Session) -> PgBurstRun:
    """The burst on one instance with the embedded store, as shipped (long polling)."""
    work = session.workdir("pgburst-sqlite")
    async with (
        Fakes.running(session.payloads, work) as fakes,
        bot_process("ours", fakes, work) as bot,
    ):
        await wait_ready(bot, fakes)
        return await _burst(session, fakes, [bot], None, None)


async def measure_postgres(session: Session, server: str, db_pid: int) -> PgBurstRun:
    """The burst on two instances sharing a fresh database, behind one webhook URL."""
    work = session.workdir("pgburst-postgres")
    database = await new_database(server)
    ports = [_free_port() for _ in range(INSTANCES)]
    async with contextlib.AsyncExitStack() as stack:
        fakes = await stack.enter_async_context(
            Fakes.running(session.payloads, work, webhook=True)
        )
        balancer = await stack.enter_async_context(
            RoundRobin([f"http://127.0.0.1:{port}" for port in ports])
        )
        bots = []
        for index, port in enumerate(ports):
            config: ConfigOverrides = {
                "storage": {"backend": "postgresql", "database_url": database},
                "telegram": {
                    "mode": "webhook",
                    "webhook_url": balancer.url + HOOK_PATH,
                    "webhook_listen": "127.0.0.1",
                    "webhook_port": port,
                },
            }
            folder = work / f"instance-{index}"
            folder.mkdir()
            bots.append(
                await stack.enter_async_context(bot_process("ours", fakes, folder, config=config))
            )
        await wait_webhooks(bots, fakes)
        return await _burst(session, fakes, bots, balancer, db_pid)


async def run(session: Session) -> Section:
    """Alternate the single SQLite instance and the two PostgreSQL ones, fresh processes each."""
    plan = session.plan
    runs: dict[str, list[PgBurstRun]] = {SQLITE: [], POSTGRES: []}
    with contextlib.ExitStack() as stack:
        # initdb and pg_ctl take seconds: off the event loop.
        server = await asyncio.to_thread(stack.enter_context, postgres_server())
        try:
            db_pid = await _postmaster_pid(server)
            for run_index in range(plan.burst_runs):
                order = (SQLITE, POSTGRES) if run_index % 2 == 0 else (POSTGRES, SQLITE)
                for setup in order:
                    if setup == SQLITE:
                        runs[setup].append(await measure_sqlite(session))
                    else:
                        runs[setup].append(await measure_postgres(session, server, db_pid))
        finally:
            await asyncio.to_thread(stack.close)
    return _section(session, runs)


def _rows(setup: str, found: list[PgBurstRun]) -> list[list[str]]:
    """The table rows of one setup's runs."""
    measures: list[tuple[str, list[float], float, int]] = [
        ("wall until all answered (s)", [r.wall_s for r in found], 1, 2),
        ("CPU per step, bot processes (ms)", [r.cpu_per_step_s for r in found], 1000, 1),
    ]
    for index in range(len(found[0].peak_rss_kb)):
        values = [r.peak_rss_kb[index] / 1024 for r in found]
        measures.append((f"peak RSS of instance {index + 1}, VmHWM (MB)", values, 1, 0))
    latencies = [x for r in found for x in r.step_latencies_s]
    measures.append(("one step's wall, all runs (s)", latencies, 1, 2))
    if setup == POSTGRES:
        db = [r.db_cpu_per_step_s for r in found]
        measures.append(("CPU per step, PostgreSQL server (ms)", db, 1000, 1))
    return [
        [setup, name, *summary_cells(Summary.of(values), factor, digits)]
        for name, values, factor, digits in measures
    ]


def _section(session: Session, runs: dict[str, list[PgBurstRun]]) -> Section:
    plan = session.plan
    rows = [row for setup, found in runs.items() for row in _rows(setup, found)]
    table = Table(
        ("setup", "measure", *SUMMARY_HEADER),
        rows,
        f"{plan.burst_runs} bursts per setup of {plan.burst_chats} chats.",
    )
    cpu = {k: statistics.median(r.cpu_per_step_s for r in v) for k, v in runs.items()}
    db_cpu = statistics.median(r.db_cpu_per_step_s for r in runs[POSTGRES])
    cpu_ratio = ratio(cpu[POSTGRES], cpu[SQLITE])
    section = Section(
        f"10. Burst on PostgreSQL: {INSTANCES} instances, one database (issue 16)",
        f"The burst of section 3 ({plan.burst_chats} private chats, a photo with a caption each, "
        f"all available at one instant, model latency {plan.burst_latency_s:g} s), run on "
        f"{INSTANCES} instances of ours sharing one PostgreSQL database (`[storage] backend = "
        '"postgresql"`, default pool size), each in webhook mode behind a round-robin balancer '
        "(tests/fakes/balancer.py, in the driver) that the Telegram fake POSTs every update to; "
        "next to it, alternating, one instance on SQLite with long polling, as shipped. Fresh "
        "processes and a fresh database per burst, after two sequential warm-up steps per "
        "instance. CPU per step sums the instances' processes; the PostgreSQL server (a local "
        "one, fsync off, started for this section) is shown apart and not in the budget.",
        [table],
    )
    section.checks += [
        Check(
            "PostgreSQL burst: all answered",
            f"{plan.burst_chats}/{plan.burst_chats} photos",
            ", ".join(f"{r.photos}/{plan.burst_chats}" for r in runs[POSTGRES]),
            all(r.photos == plan.burst_chats for r in runs[POSTGRES]),
        ),
        Check(
            f"PostgreSQL burst CPU per step ({INSTANCES} instances)",
            "<= 1.3 x one SQLite instance",
            f"{num(cpu_ratio, 2)} x ({num(cpu[POSTGRES] * 1000)} vs {num(cpu[SQLITE] * 1000)} "
            f"ms; database server {num(db_cpu * 1000)} ms more)",
            cpu_ratio <= CPU_VS_SQLITE_TARGET,
        ),
    ]
    section.notes.append(
        "Burst updates each instance received, per run: "
        + ", ".join("/".join(str(n) for n in r.served) for r in runs[POSTGRES])
        + ". Answered with a photo on SQLite: "
        + ", ".join(f"{r.photos}/{plan.burst_chats}" for r in runs[SQLITE])
        + "."
    )
    return section

"""Two bot processes on one PostgreSQL database behind one Telegram webhook URL.

The Telegram fake delivers every update to a round-robin load balancer in front of two real
`bananabot run` processes, so consecutive updates reach different instances: the instances
must agree through the database alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.conftest import photo
from tests.fakes.balancer import RoundRobin
from tests.fakes.gemini import GeminiFake, RecordedRequest, Reply
from tests.fakes.telegram import Call, TelegramFake
from tests.postgres_server import new_database
from tests.telegram_harness import button, is_answer

ROOT = Path(__file__).parent.parent
HOOK_PATH = "/tg-hook"
SECRET = "hook-secret-1"
STARTUP_S = 60  # a process imports, connects and migrates: slow on a busy CI machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    """One `bananabot run` process serving the webhook on its own port."""

    name: str
    port: int
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"GEMINI_API_KEY", "GOOGLE_API_KEY", "DISCORD_BOT_TOKEN"}
            and not k.startswith("BANANABOT_")
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                cwd=ROOT,
                env={**env, "PTB_TIMEDELTA": "true", "BANANABOT_INSTANCE": self.name},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


@dataclass
class Pair:
    tg: TelegramFake
    gemini: GeminiFake
    balancer: RoundRobin
    database_url: str
    instances: list[Instance] = field(default_factory=list)

    async def listening(self, instance: Instance) -> None:
        """Until `instance` accepts connections on its webhook port."""
        async with asyncio.timeout(STARTUP_S):
            while True:
                assert instance.process is not None and instance.process.poll() is None, (
                    instance.log.read_text()
                )
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", instance.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                await writer.wait_closed()
                return


def write_config(
    path: Path, gemini: GeminiFake, tg: TelegramFake, url: str, port: int, hook: str, limits: str
) -> None:
    model = 'model = "gemini-3.1-flash-image"' if gemini.gemini3 else ""  # it thinks, drafts
    path.write_text(
        f"""
[gemini]
{model}
api_key = "test-key-123"
base_url = "{gemini.base_url}"
timeout_s = 60
max_concurrent_requests = 64
[storage]
backend = "postgresql"
database_url = "{url}"
data_dir = "{path.parent / "unused-data"}"
[limits]
{limits}
[telegram]
token = "{tg.token}"
api_base_url = "{tg.api_base_url}"
file_base_url = "{tg.file_base_url}"
mode = "webhook"
webhook_url = "{hook}"
webhook_listen = "127.0.0.1"
webhook_port = {port}
webhook_secret = "{SECRET}"
""",
        encoding="utf-8",
    )


@asynccontextmanager
async def two_instances(
    tmp_path: Path, postgres_url: str, *, limits: str = "", gemini: GeminiFake | None = None
) -> AsyncIterator[Pair]:
    """Instances "a" and "b" behind one balancer, both serving when this yields."""
    url = await new_database(postgres_url)
    ports = [free_port(), free_port()]
    async with (
        TelegramFake() as tg,
        GeminiFake(latency=0.3) if gemini is None else nullcontext(gemini) as model,
        RoundRobin([f"http://127.0.0.1:{p}" for p in ports]) as balancer,
    ):
        pair = Pair(tg, model, balancer, url)
        for name, port in zip("ab", ports, strict=True):
            config = tmp_path / f"{name}.toml"
            hook = balancer.url + HOOK_PATH
            write_config(config, model, tg, url, port, hook, limits)
            pair.instances.append(Instance(name, port, config, tmp_path / f"{name}.log"))
        try:
            for instance in pair.instances:
                instance.start()
            for instance in pair.instances:
                await pair.listening(instance)
            await tg.wait_for(lambda: bool(tg.webhook_url), timeout=STARTUP_S)
            yield pair
        finally:
            for instance in pair.instances:
                instance.stop()


def answers(tg: TelegramFake, message: dict[str, Any]) -> list[Call]:
    return [
        c for c in tg.calls if c.method in ("sendPhoto", "sendMessage") and is_answer(c, message)
    ]


async def answer_to(tg: TelegramFake, message: dict[str, Any], within: float = 30) -> Call:
    found: list[Call] = await tg.wait_for(lambda: answers(tg, message), timeout=within)
    return found[0]


def prompt_of(request: RecordedRequest) -> str:
    """The newest user text of a request."""
    texts = [p.text for c in request.contents if c.role == "user" for p in c.parts if p.text]
    return texts[-1] if texts else ""


@contextmanager
def logs_on_failure(pair: Pair) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for instance in pair.instances:
            print(f"--- {instance.name} ---\n{instance.log.read_text()[-6000:]}")
        raise


async def test_updates_alternate_and_a_reply_on_b_continues_a_lineage_from_a(
    tmp_path: Path, postgres_url: str
) -> None:
    async with two_instances(tmp_path, postgres_url) as pair:
        tg, gemini, balancer = pair.tg, pair.gemini, pair.balancer
        with logs_on_failure(pair):
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            first = tg.send_user_message(chat, alice, photo=photo(), caption="make it blue")
            result = await answer_to(tg, first)
            assert result.method == "sendPhoto"
            served = dict(balancer.counts)
            follow = tg.send_user_message(
                chat, alice, text="now add a hat", reply_to=result.response["message_id"]
            )
            again = await answer_to(tg, follow)
            assert again.method == "sendPhoto"
            # Each update went to another instance.
            assert sorted(served.values()) == [0, 1]
            assert sorted(balancer.counts.values()) == [1, 1]
            # B answered with A's lineage: the first picture and A's result are history.
            history = gemini.requests[1].images
            assert gemini.requests[0].images[0] in history
            assert gemini.requests[0].response_images[0] in history
            # Both instances started behind one URL; one of them set the webhook.
            assert len(tg.calls_of("setWebhook")) == 1
            assert tg.webhook_secret_token == SECRET


async def test_an_album_split_across_the_instances_is_one_turn(
    tmp_path: Path, postgres_url: str
) -> None:
    async with two_instances(tmp_path, postgres_url) as pair:
        tg, gemini, balancer = pair.tg, pair.gemini, pair.balancer
        with logs_on_failure(pair):
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            pictures = [photo(color) for color in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
            items = tg.send_album(chat, alice, pictures, caption="combine them")
            result = await answer_to(tg, items[0])
            assert result.method == "sendPhoto"
            assert sorted(balancer.counts.values()) == [1, 2]
            # A reply after the album is a barrier: every item was handled by then.
            follow = tg.send_user_message(
                chat, alice, text="brighter", reply_to=result.response["message_id"]
            )
            await answer_to(tg, follow)
            assert len(gemini.requests) == 2
            assert len(gemini.requests[0].images) == 3
            assert len(tg.calls_of("sendPhoto")) == 2


async def test_200_steps_from_20_users_never_pass_the_in_flight_limit_or_the_quota(
    tmp_path: Path, postgres_url: str
) -> None:
    quota, users, rounds = 4, 20, (3, 3, 3, 1)
    limits = f"max_inflight_per_user = 2\ndaily_images_per_user = {quota}"
    # A model second per call: a user's admitted steps surely overlap, testing the limit.
    async with (
        GeminiFake(latency=1.0) as gemini,
        two_instances(tmp_path, postgres_url, limits=limits, gemini=gemini) as pair,
    ):
        tg = pair.tg
        with logs_on_failure(pair):
            people = [tg.user(100 + n, f"User{n}") for n in range(users)]
            chats = [tg.private_chat(p) for p in people]
            sent: list[dict[str, Any]] = []
            for round_no, per_user in enumerate(rounds):
                batch = [
                    tg.send_user_message(chat, person, text=f"u{n} r{round_no} m{k}: a fox")
                    for k in range(per_user)
                    for n, (chat, person) in enumerate(zip(chats, people, strict=True))
                ]
                for message in batch:
                    await answer_to(tg, message, within=60)
                sent += batch
            assert len(sent) == 200
            assert all(len(answers(tg, m)) == 1 for m in sent)  # one answer each

            by_user: dict[str, list[RecordedRequest]] = {}
            for request in gemini.requests:
                by_user.setdefault(prompt_of(request).split(" ")[0], []).append(request)
            assert sorted(by_user) == sorted(f"u{n}" for n in range(users))
            for user, requests in by_user.items():
                assert len(requests) == quota, user  # the quota, exactly: never more
                assert most_at_once(requests) <= 2, user
            assert max(most_at_once(r) for r in by_user.values()) == 2  # the limit was tested
            assert sum(1 for c in tg.calls_of("sendPhoto") if c.ok) == users * quota
            conn = await asyncpg.connect(pair.database_url)
            try:
                ledger = await conn.fetch(
                    "SELECT user_id, sum(images) AS n FROM usage GROUP BY user_id"
                )
                holds = await conn.fetchval("SELECT count(*) FROM holds")
            finally:
                await conn.close()
            assert sorted(int(r["n"]) for r in ledger) == [quota] * users
            assert holds == 0  # every step gave its hold back
            assert sorted(pair.balancer.counts.values()) == [100, 100]


def backend(instance: Instance) -> str:
    return f"http://127.0.0.1:{instance.port}"


def most_at_once(requests: list[RecordedRequest]) -> int:
    """The most of `requests` the model was answering at one moment."""
    events = sorted(
        [(r.arrived_at, 1) for r in requests]
        + [(r.answered_at if r.answered_at is not None else float("inf"), -1) for r in requests],
        key=lambda e: (e[0], e[1]),  # an answer before an arrival at the same instant
    )
    most = now = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


async def test_kill_9_of_one_instance_the_other_serves_and_the_restart_announces_once(
    tmp_path: Path, postgres_url: str
) -> None:
    async with (
        GeminiFake(latency=0.3) as gemini,
        two_instances(tmp_path, postgres_url, gemini=gemini) as pair,
    ):
        tg, balancer = pair.tg, pair.balancer
        with logs_on_failure(pair):
            gemini.script(Reply.hang())
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            cut = tg.send_user_message(chat, alice, text="a castle at dusk")
            await gemini.wait_for_requests(1, timeout=30)
            busy = next(i for i in pair.instances if balancer.counts[backend(i)] == 1)
            busy.kill()

            bob = tg.user(2, "Bob")
            bob_chat = tg.private_chat(bob)
            for text in ("a red fox", "a blue bird", "a green frog"):  # some meant for a
                served = tg.send_user_message(bob_chat, bob, text=text)
                assert (await answer_to(tg, served)).method == "sendPhoto"
            assert answers(tg, cut) == []

            busy.start()
            await pair.listening(busy)
            notice = await answer_to(tg, cut)
            assert "restarted while working" in notice.params["text"]
            assert notice.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Retry"
            # Both instances serve again (a barrier), and still one notice, one webhook.
            for text in ("one more", "and another"):
                served = tg.send_user_message(bob_chat, bob, text=text)
                assert (await answer_to(tg, served)).method == "sendPhoto"
            assert len(answers(tg, cut)) == 1
            assert len(tg.calls_of("setWebhook")) == 1


async def test_stop_pressed_on_the_other_instance_stops_the_call(
    tmp_path: Path, postgres_url: str
) -> None:
    async with (
        GeminiFake(gemini3=True) as gemini,
        two_instances(tmp_path, postgres_url, gemini=gemini) as pair,
    ):
        tg, balancer = pair.tg, pair.balancer
        with logs_on_failure(pair):
            gemini.script(Reply.thinking(draft_at=(0.0,), hold=True))
            alice = tg.user(1, "Alice")
            chat = tg.private_chat(alice)
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="add a hat")
            draft_call = await tg.wait_for_call("sendPhoto", timeout=30)
            draft = draft_call.response
            running_on = next(b for b, n in balancer.counts.items() if n == 1)
            tg.press_button(chat, alice, draft, button(draft, "Stop"))
            stopped = await answer_to(tg, sent)
            assert stopped.params["text"] == "Stopped."
            # The press reached the other instance, which asked the runner through the store.
            assert all(n == 1 for n in balancer.counts.values())
            assert balancer.counts[running_on] == 1
            await gemini.wait_for(lambda: gemini.requests[0].disconnected_after is not None)

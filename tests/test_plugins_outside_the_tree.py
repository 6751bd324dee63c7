"""A platform is a plugin: an adapter that lives under tests/ is installed by its entry point
(no pip, no change in bot/) and holds a conversation through the real `python -m bot run`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import EXIT_CONFIG, main
from bot.plugins import ADAPTER_GROUP
from tests.conftest import photo
from tests.fakes.gemini import GeminiFake

ROOT = Path(__file__).parent.parent
WAIT = 30.0
TOKENS = {"GEMINI_API_KEY", "GOOGLE_API_KEY", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"}


def install_tiny_adapter(site: Path) -> Path:
    """Write the metadata `pip install` would write for a `tiny` adapter distribution."""
    info = site / "bananabot_tiny_adapter-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bananabot-tiny-adapter\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ADAPTER_GROUP}]\ntiny = tests.tiny_adapter:plugin\n", encoding="utf-8"
    )
    return site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return install_tiny_adapter(tmp_path / "site")


@pytest.fixture(autouse=True)
def restore_log_record_factory() -> Iterator[None]:
    """`main` installs process-wide redaction; keep it from leaking into other tests."""
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


class Process:
    """The bot process and the line conversation with its tiny adapter."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    async def send(self, **line: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(line) + "\n").encode())
        await self.process.stdin.drain()

    async def next_event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        assert raw, f"the bot ended its output; its log:\n{self.log.read_text()}"
        event: dict[str, Any] = json.loads(raw)
        return event

    async def next_card(self) -> dict[str, Any]:
        while "card" not in (event := await self.next_event()):
            pass
        return event


async def test_an_adapter_installed_by_entry_point_runs_a_conversation(
    tmp_path: Path, gemini: GeminiFake, site: Path
) -> None:
    picture = tmp_path / "cat.jpg"
    picture.write_bytes(photo())
    config = tmp_path / "config.toml"
    config.write_text(
        f'[gemini]\napi_key = "test-key-123"\nbase_url = "{gemini.base_url}"\n'
        f'retry_backoff_s = 0.01\n[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        '[tiny]\nchat = "lab"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in TOKENS}
    env["PYTHONPATH"] = str(site)
    log = tmp_path / "bot.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=ROOT,
        )
    bot = Process(process, log)
    try:
        await bot.send(id="u1", text="make it blue", image=str(picture))
        first = await bot.next_card()
        await bot.send(id="u2", text="now add a hat", reply_to=first["card"])
        second = await bot.next_card()
        [retry] = [b for b in second["buttons"] if b["code"] == "r"]
        await bot.send(press=retry["payload"])
        assert await bot.next_event() == {"ack": True}
        third = await bot.next_card()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), WAIT)
    assert process.returncode == 0, log.read_text()

    assert (first["card"], first["ok"], first["images"]) == ("b1", True, 1)
    assert (second["card"], second["ok"], second["images"]) == ("b2", True, 1)
    assert (third["card"], third["ok"], third["images"]) == ("b3", True, 1)
    assert {b["code"] for b in first["buttons"]} >= {"r", "o"}
    # The reply continued the lineage: the model saw the first image, its answer, the reply.
    assert len(gemini.requests) == 3
    continued = gemini.requests[1]
    assert [c.role for c in continued.contents] == ["user", "model", "user"]
    assert continued.contents[0].parts[0].image is not None
    assert continued.contents[-1].parts[-1].text == "now add a hat"
    # Retry answered the same instruction again, from the same history.
    again = gemini.requests[2]
    assert [c.role for c in again.contents] == ["user", "model", "user"]
    assert again.contents[-1].parts[-1].text == "now add a hat"


def test_a_plugin_names_its_own_setup_and_config_keys(
    tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(site))
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    assert main(["run", "--config", str(config)]) == EXIT_CONFIG
    hint = capsys.readouterr().err
    assert '[tiny] chat = "lab"' in hint
    assert "TELEGRAM_BOT_TOKEN" in hint  # the installed adapters still say theirs

    config.write_text('[tiny]\nchatt = "lab"\n', encoding="utf-8")
    assert main(["run", "--config", str(config)]) == EXIT_CONFIG
    assert "tiny.chatt" in capsys.readouterr().err

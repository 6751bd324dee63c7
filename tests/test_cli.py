"""The command line: clear exits without tokens or with a wrong config; both entry points."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import CHAT_LOG, EXIT_CONFIG, main
from tests.fakes.gemini import GeminiFake

ROOT = Path(__file__).parent.parent
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in {"GEMINI_API_KEY", "GOOGLE_API_KEY", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"}
}


@pytest.fixture(autouse=True)
def restore_log_record_factory() -> Iterator[None]:
    """`main` installs process-wide redaction; keep it from leaking into other tests."""
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_env")
def test_run_without_tokens_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(ROOT / "config.example.toml")]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN" in err
    assert "DISCORD_BOT_TOKEN" in err
    assert "[telegram] token" in err


@pytest.mark.usefixtures("clean_env")
def test_run_without_gemini_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    assert main(["run"]) == EXIT_CONFIG
    assert "GEMINI_API_KEY" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_wrong_key_stops_start_up_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[telegram]\ntoken = "1:a"\nmdoe = "polling"\n', encoding="utf-8")
    assert main(["run", "--config", str(config)]) == EXIT_CONFIG
    assert "telegram.mdoe" in capsys.readouterr().err


def test_python_dash_m_bot_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(ROOT / "config.example.toml")],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_CONFIG
    assert "no chat platform is configured" in result.stderr


def test_core_never_imports_a_platform_library() -> None:
    """`bot/` stays platform-neutral: no adapter, PTB or discord.py import anywhere in it."""
    code = (
        "import sys, pkgutil, importlib, bot\n"
        "for m in pkgutil.iter_modules(bot.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('bot.' + m.name)\n"
        "top = {n.split('.')[0] for n in sys.modules}\n"
        "bad = sorted(top & {'telegram', 'discord', 'adapters'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


async def test_chat_keeps_log_lines_out_of_the_conversation(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    """`bananabot chat` talks on the terminal; its INFO log goes to a file in data_dir."""
    code, out, err = await _bananabot(
        tmp_path, gemini.base_url, "chat", "--out", str(tmp_path / "out"), stdin=b"a red apple\n"
    )
    assert code == 0, err
    assert len(gemini.requests) == 1
    assert "INFO" not in out + err
    assert "INFO bot.engine" in (tmp_path / "data" / CHAT_LOG).read_text(encoding="utf-8")


async def _bananabot(
    tmp_path: Path, base_url: str, *args: str, model: str = "", stdin: bytes = b""
) -> tuple[int, str, str]:
    """Run `python -m bot ARGS --config C` against `base_url`: (exit code, stdout, stderr)."""
    config = tmp_path / "config.toml"
    chosen = f'model = "{model}"\n' if model else ""
    config.write_text(
        f'[gemini]\napi_key = "test-key-123"\nbase_url = "{base_url}"\n{chosen}'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n',
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        "--config",
        str(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=CLEAN_ENV,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_models_lists_the_image_models_the_key_can_use(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    gemini.models = [f"gemini-extra-{n}" for n in range(150)] + list(gemini.models)  # 2 pages
    code, out, err = await _bananabot(
        tmp_path, gemini.base_url, "models", model="gemini-3-pro-image"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "model",
        "input",
        "images",
        "sizes",
        "aspect",
        "ratios",
        "thinking",
        "search",
        "USD/image",
    ]
    listed = [line.split() for line in lines[1:]]
    assert [next(c for c in row if c.startswith("gemini")) for row in listed] == [
        "gemini-3.1-flash-image",
        "gemini-3.1-flash-lite-image",
        "gemini-3-pro-image",
        "gemini-3-pro-image-preview",
        "gemini-2.5-flash-image",
    ]  # text and embedding models are left out; the second page is read
    pro = ["*", "gemini-3-pro-image", "14", "1K", "2K", "4K", "10", "yes", "yes"]
    assert [*pro, "1K=$0.134,2K=$0.134,4K=$0.240"] in listed
    assert ["gemini-2.5-flash-image", "3", "-", "10", "no", "no", "1K=$0.039"] in listed
    assert "not among them" not in out


async def test_models_says_when_the_configured_model_is_not_offered(
    tmp_path: Path, gemini: GeminiFake
) -> None:
    code, out, _ = await _bananabot(tmp_path, gemini.base_url, "models", model="gemini-9-image")
    assert code == 0
    assert "gemini.model 'gemini-9-image' is not among them." in out


async def test_models_without_gemini_says_so_and_fails(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    code, _, err = await _bananabot(tmp_path, closed, "models", model="gemini-3-pro-image")
    assert code == 1
    assert "cannot list the models" in err
    assert "Traceback" not in err

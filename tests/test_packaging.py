"""What a user installs: `make run` brings the bot only, `make test` the tools; MIT, declared."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def planned(target: str, venv: Path) -> str:
    """The commands `make TARGET` would run on a machine without a venv (dry run)."""
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_installs_the_bot_without_the_test_tools(tmp_path: Path) -> None:
    run = planned("run", tmp_path / "venv")
    assert "pip install --quiet -e ." in run
    assert "[dev]" not in run
    assert "pip install --quiet -e '.[dev]'" in planned("test", tmp_path / "venv")


def test_license_is_declared_once_as_spdx_and_shipped() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert "LICENSE" in project["license-files"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")

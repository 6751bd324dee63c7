"""The import direction the design promises, checked over the source (no import side effects)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PLATFORM_LIBRARIES = {"telegram", "discord", "adapters"}
# The model port hides the SDK: no google-genai type may leave these modules.
SDK_MODULES = {"bot/model.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (TYPE_CHECKING blocks included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


CORE = sorted(p for p in (ROOT / "bot").rglob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_adapter_and_no_platform_library(path: Path) -> None:
    tops = {name.split(".")[0] for name in imported_modules(path)}
    assert not tops & PLATFORM_LIBRARIES


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_model_module_speaks_google_genai(path: Path) -> None:
    if str(path.relative_to(ROOT)) in SDK_MODULES:
        return
    assert not any(name.startswith("google") for name in imported_modules(path))


def test_adapters_never_reach_into_the_sdk() -> None:
    for path in (ROOT / "adapters").rglob("*.py"):
        assert not any(n.startswith("google") for n in imported_modules(path)), path

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


# Only the composition root and each store's own package name a store; everything else types
# against the `bot.store` port.
STORE_OWNERS = {
    "bot.store.sqlite": ("bot/app.py", "bot/store/sqlite/", "bot/store/transfer.py"),
    "bot.store.postgres": ("bot/app.py", "bot/store/postgres/", "bot/store/transfer.py"),
}
DRIVERS = {
    "sqlite3": ("bot/store/sqlite/", "bot/store/transfer.py"),
    "asyncpg": ("bot/store/postgres/", "bot/store/transfer.py"),
}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_types_against_the_store_port(path: Path) -> None:
    where = str(path.relative_to(ROOT))
    names = imported_modules(path)
    for store, owners in STORE_OWNERS.items():
        if not where.startswith(owners):
            assert not any(name.startswith(store) for name in names), (where, store)
    for driver, owners in DRIVERS.items():
        if not where.startswith(owners):
            assert not any(name.split(".")[0] == driver for name in names), (where, driver)


def test_the_model_port_knows_nothing_of_the_store() -> None:
    for module in ("bot/model.py", "bot/lineage.py"):
        names = imported_modules(ROOT / module)
        assert not any(name.startswith("bot.store") for name in names), module


def test_adapters_reach_the_store_only_through_the_engine() -> None:
    for path in (ROOT / "adapters").rglob("*.py"):
        assert not any(n.startswith("bot.store") for n in imported_modules(path)), path
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reached = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"]
        assert reached == [], f"{path} uses the engine's store"


# The inbound port: adapters see the engine only through `bot.engine_port.EnginePort`.
ENGINE_INTERNALS = ("bot.engine", "bot.model", "bot.store", "bot.intake", "bot.housekeeping")


def test_adapters_depend_on_the_engine_port_not_the_engine() -> None:
    for path in (ROOT / "adapters").rglob("*.py"):
        names = imported_modules(path)
        assert not any(n == m or n.startswith(m + ".") for n in names for m in ENGINE_INTERNALS), (
            path
        )


def test_the_engine_implements_its_port() -> None:
    from bot.engine import Engine  # noqa: PLC0415 - the check is about these two names
    from bot.engine_port import EnginePort  # noqa: PLC0415

    port = {name for name in dir(EnginePort) if not name.startswith("_")}
    missing = sorted(name for name in port if not hasattr(Engine, name))
    assert not missing, missing


PLATFORM_NAMES = ("telegram", "discord")


def platform_mentions(path: Path) -> list[str]:
    """Identifiers and string literals (docstrings aside) that name a platform."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            words.append(node.arg)
        elif isinstance(node, ast.alias):
            words.extend(filter(None, (node.name, node.asname)))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.append(node.module)
    return [w for w in words if any(name in w.lower() for name in PLATFORM_NAMES)]


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_names_no_platform(path: Path) -> None:
    """Platforms are plugins: `bot/` spells no platform outside comments and docstrings."""
    assert platform_mentions(path) == []


def test_the_platform_check_sees_names_and_strings_but_not_prose(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Telegram and Discord in a docstring are prose."""\n'
        "# so is a Discord comment\n"
        "def f(discord_token: str) -> str:\n"
        '    """Telegram prose."""\n'
        '    return f"{discord_token} via telegram"\n'
        "class TelegramSettings: ...\n",
        encoding="utf-8",
    )
    assert sorted(platform_mentions(sample)) == [
        " via telegram",
        "TelegramSettings",
        "discord_token",
        "discord_token",
    ]

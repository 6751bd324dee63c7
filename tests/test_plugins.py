"""Adapters are plugins: found by entry point, each owning its config section, secrets, noisy
loggers and setup hint; loading them is cheap."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from adapters.discord.config import DiscordSettings
from adapters.telegram.config import TelegramSettings
from bot.config import Section, Settings, load_settings, parse_settings, secrets_of
from bot.errors import ConfigError
from bot.logsetup import configure_logging
from bot.plugins import (
    ADAPTER_GROUP,
    AdapterPlugin,
    Plugins,
    TerminalPlugin,
    discover_plugins,
    plugins_of,
)

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "config.example.toml"


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return discover_plugins()


def test_the_builtin_adapters_are_entry_points(plugins: Plugins) -> None:
    assert ADAPTER_GROUP == "bananabot.adapters"
    assert [p.name for p in plugins.adapters] == ["discord", "telegram"]
    assert [p.name for p in plugins.terminals] == ["console"]
    assert all(isinstance(p, AdapterPlugin) for p in plugins.adapters)
    assert all(isinstance(p, TerminalPlugin) for p in plugins.terminals)


def test_each_adapter_parses_its_own_section(plugins: Plugins) -> None:
    settings = load_settings(EXAMPLE, {}, plugins.adapters)
    telegram = settings.plugin("telegram", TelegramSettings)
    discord = settings.plugin("discord", DiscordSettings)
    assert telegram.api_base_url == "https://api.telegram.org/bot"
    assert telegram.mode == "polling"
    assert discord.gateway_url == "wss://gateway.discord.gg/"
    assert not telegram.enabled
    assert not discord.enabled
    assert plugins.enabled(settings) == []


def test_a_section_no_plugin_claims_is_unknown() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"telegram": {"token": "1:a"}}, {})  # no plugins given
    assert caught.value.key == "telegram"
    assert "unknown section" in str(caught.value)


def test_secrets_come_from_every_plugin_section(plugins: Plugins) -> None:
    env = {
        "GEMINI_API_KEY": "gemini-secret",
        "TELEGRAM_BOT_TOKEN": "123:tg-secret",
        "TELEGRAM_WEBHOOK_SECRET": "hook-secret",
        "DISCORD_BOT_TOKEN": "dc-secret",
    }
    settings = parse_settings({}, env, plugins.adapters)
    assert set(secrets_of(settings)) == set(env.values())
    assert [p.name for p in plugins.enabled(settings)] == ["discord", "telegram"]


def test_without_a_parsed_section_an_adapter_gets_its_defaults() -> None:
    assert Settings().plugin("discord", DiscordSettings) == DiscordSettings()
    wrong = Settings(plugins={"discord": TelegramSettings()})
    with pytest.raises(TypeError, match="discord"):
        wrong.plugin("discord", DiscordSettings)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    for name in ("telegram.ext", "discord"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_logging")
def test_plugins_name_their_noisy_loggers(plugins: Plugins) -> None:
    assert set(plugins.noisy_loggers) >= {"telegram.ext", "discord"}
    configure_logging("DEBUG", (), quiet=plugins.noisy_loggers)
    assert logging.getLogger("telegram.ext").level == logging.WARNING
    assert logging.getLogger("discord").level == logging.WARNING


def test_loading_every_plugin_imports_no_platform_library() -> None:
    """Config errors and `chat` must not pay for PTB, discord.py or the model SDK."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bot.config import load_settings\n"
        "from bot.plugins import discover_plugins\n"
        "plugins = discover_plugins()\n"
        f"load_settings(Path({str(EXAMPLE)!r}), {{}}, plugins.adapters)\n"
        "print(len(plugins.adapters) + len(plugins.terminals))\n"
        "top = {n.split('.')[0] for n in sys.modules}\n"
        "print(','.join(sorted(top & {'telegram', 'discord', 'google'})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    loaded, heavy = result.stdout.splitlines()
    assert loaded == "3"
    assert heavy == ""


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (["no_such_module:plugin"], "cannot load no_such_module:plugin"),
        (["tests.tiny_adapter:SECTION"], "neither an adapter nor a terminal plugin"),
        (["tests.tiny_adapter:plugin"] * 2, "section [tiny] is claimed twice"),
    ],
)
def test_a_broken_plugin_stops_start_up_naming_its_entry_point(
    values: list[str], problem: str
) -> None:
    entries = [
        EntryPoint(name=f"tiny{n}", value=value, group=ADAPTER_GROUP)
        for n, value in enumerate(values)
    ]
    with pytest.raises(ConfigError) as caught:
        plugins_of(entries)
    assert caught.value.key == f"{ADAPTER_GROUP}:tiny{len(values) - 1}"
    assert problem in caught.value.problem


def test_a_plugin_may_not_claim_a_core_section() -> None:
    class Impostor:
        name = "gemini"
        noisy_loggers = ()
        setup_hint = ""

        def parse(self, section: Section, env: Mapping[str, str]) -> TelegramSettings:
            return TelegramSettings()

        def create(self, engine: object, settings: Settings) -> object:
            raise NotImplementedError

    with pytest.raises(ConfigError, match="core section"):
        parse_settings({}, {}, [Impostor()])

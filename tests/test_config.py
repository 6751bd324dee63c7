"""Config: defaults, env precedence for secrets, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.discord.config import DiscordSettings
from adapters.discord.plugin import plugin as discord
from adapters.telegram.config import TelegramSettings
from adapters.telegram.plugin import plugin as telegram
from bot.capabilities import capabilities_for
from bot.chat_settings import ChatSettings
from bot.config import DEFAULT_MODEL, ReferenceSettings, load_settings, parse_settings
from bot.errors import ConfigError
from bot.limits import AccessPolicy

PLUGINS = (telegram, discord)


def test_example_config_parses_with_documented_defaults() -> None:
    example = Path(__file__).parent.parent / "config.example.toml"
    settings = load_settings(example, {}, PLUGINS)
    tg = settings.plugin("telegram", TelegramSettings)
    dc = settings.plugin("discord", DiscordSettings)
    assert settings.gemini.model == DEFAULT_MODEL == "gemini-3.1-flash-image"
    assert settings.gemini.api_version == "v1beta"
    assert settings.gemini.base_url == ""
    assert tg.api_base_url == "https://api.telegram.org/bot"
    assert tg.file_base_url == "https://api.telegram.org/file/bot"
    assert tg.mode == "polling"
    assert dc.api_base_url == "https://discord.com/api/v10"
    assert dc.message_content_intent is True
    assert dc.auto_thread is False
    assert settings.access.allowed_chats == ()
    assert settings.references == ReferenceSettings(50, 50, 4)
    assert settings.styles == ()
    assert not tg.enabled
    assert not dc.enabled


def test_environment_wins_for_secrets() -> None:
    raw = {"gemini": {"api_key": "from-file"}, "telegram": {"token": "file-token"}}
    env = {"GEMINI_API_KEY": "gem-env", "TELEGRAM_BOT_TOKEN": "tg-env", "DISCORD_BOT_TOKEN": "dc"}
    settings = parse_settings(raw, env, PLUGINS)
    assert settings.gemini.api_key == "gem-env"
    assert settings.plugin("telegram", TelegramSettings).token == "tg-env"
    assert settings.plugin("discord", DiscordSettings).token == "dc"
    from_file = parse_settings(raw, {}, PLUGINS)
    assert from_file.gemini.api_key == "from-file"
    assert from_file.plugin("telegram", TelegramSettings).token == "file-token"
    # google-genai gives GOOGLE_API_KEY precedence; so do we.
    both = {"GOOGLE_API_KEY": "google", "GEMINI_API_KEY": "gemini"}
    assert parse_settings({}, both).gemini.api_key == "google"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"gemini": {"modle": "x"}}, "gemini.modle"),
        ({"gemni": {}}, "gemni"),
        ({"gemini": {"timeout_s": "soon"}}, "gemini.timeout_s"),
        ({"gemini": {"max_concurrent_requests": 0}}, "gemini.max_concurrent_requests"),
        ({"gemini": {"max_concurrent_requests": True}}, "gemini.max_concurrent_requests"),
        ({"gemini": {"api_version": "v2"}}, "gemini.api_version"),
        ({"gemini": {"base_url": "localhost:9"}}, "gemini.base_url"),
        ({"telegram": {"mode": "push"}}, "telegram.mode"),
        ({"telegram": {"token": "t", "mode": "webhook"}}, "telegram.webhook_url"),
        ({"discord": {"auto_thread": "yes"}}, "discord.auto_thread"),
        ({"discord": {"gateway_url": "https://x"}}, "discord.gateway_url"),
        ({"access": {"admins": "42"}}, "access.admins"),
        ({"storage": []}, "storage"),
        ({"telegram": {"mdoe": "polling"}}, "telegram.mdoe"),
        ({"telegram": []}, "telegram"),
        ({"discord": {"api_base_url": "discord.com"}}, "discord.api_base_url"),
        ({"references": {"max_images": 0}}, "references.max_images"),
        ({"references": {"max_pictures": 3}}, "references.max_pictures"),
        ({"styles": {"name": "x"}}, "styles"),
        ({"styles": [{"name": "noir"}]}, "styles[1]"),
        ({"styles": [{"name": "film noir", "prompt": "p"}]}, "styles[1].name"),
        ({"styles": [{"name": "save", "prompt": "p"}]}, "styles[1].name"),
        ({"styles": [{"name": "noir", "prompt": "p", "colour": "x"}]}, "styles[1].colour"),
    ],
)
def test_wrong_keys_and_values_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, {}, PLUGINS)
    assert caught.value.key == key
    assert key in str(caught.value)


def test_ids_accept_numbers_and_strings() -> None:
    settings = parse_settings({"access": {"admins": [42, "discord:7"]}}, {})
    assert settings.access.admins == ("42", "discord:7")


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("[gemini\nmodel = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, {})


def test_prices_override_the_built_in_table_by_model_prefix() -> None:
    settings = parse_settings(
        {
            "prices": {
                "gemini-3.1-flash-image": {"input_per_million": 0.25, "image": {"4K": 0.2}},
                "gemini-2.5-flash-image": {"image": {"1K": 0.05}},
            }
        },
        env={},
    )
    store_less = ChatSettings(settings, None, AccessPolicy(settings.access))  # type: ignore[arg-type]
    flash = store_less.caps("gemini-3.1-flash-image-preview")
    assert flash.input_usd_per_million == 0.25
    assert flash.price("4K") == 0.2 and flash.price("2K") == 0.101  # the rest as built in
    assert flash.price(None) == 0.067  # the default size keeps its place
    legacy = store_less.caps("gemini-2.5-flash-image")
    assert legacy.price(None) == 0.05 and legacy.input_usd_per_million == 0.3
    assert capabilities_for("gemini-3.1-flash-image").price("4K") == 0.151  # table untouched


@pytest.mark.parametrize(
    "prices",
    [
        {"m": {"image": {"1K": "cheap"}}},
        {"m": {"image": {"1K": -1}}},
        {"m": {"input_per_million": "x"}},
        {"m": {"typo": 1}},
        {"m": 3},
    ],
)
def test_bad_prices_are_refused_naming_the_key(prices: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"prices\.m"):
        parse_settings({"prices": prices}, env={})

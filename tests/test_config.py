"""Config: defaults, env precedence for secrets, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_MODEL, load_settings, parse_settings
from bot.errors import ConfigError


def test_example_config_parses_with_documented_defaults() -> None:
    settings = load_settings(Path(__file__).parent.parent / "config.example.toml", {})
    assert settings.gemini.model == DEFAULT_MODEL == "gemini-2.5-flash-image"
    assert settings.gemini.api_version == "v1beta"
    assert settings.gemini.base_url == ""
    assert settings.telegram.api_base_url == "https://api.telegram.org/bot"
    assert settings.telegram.file_base_url == "https://api.telegram.org/file/bot"
    assert settings.telegram.mode == "polling"
    assert settings.discord.api_base_url == "https://discord.com/api/v10"
    assert settings.discord.message_content_intent is True
    assert settings.discord.auto_thread is False
    assert settings.access.allowed_chats == ()
    assert not settings.telegram.enabled
    assert not settings.discord.enabled


def test_environment_wins_for_secrets() -> None:
    raw = {"gemini": {"api_key": "from-file"}, "telegram": {"token": "file-token"}}
    env = {"GEMINI_API_KEY": "gem-env", "TELEGRAM_BOT_TOKEN": "tg-env", "DISCORD_BOT_TOKEN": "dc"}
    settings = parse_settings(raw, env)
    assert settings.gemini.api_key == "gem-env"
    assert settings.telegram.token == "tg-env"
    assert settings.discord.token == "dc"
    assert parse_settings(raw, {}).gemini.api_key == "from-file"
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
    ],
)
def test_wrong_keys_and_values_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, {})
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

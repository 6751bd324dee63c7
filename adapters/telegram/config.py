"""The [telegram] section: Bot API endpoints, polling or webhook, the token and webhook secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Section
from bot.errors import ConfigError

SECTION = "telegram"
TELEGRAM_API = "https://api.telegram.org/bot"
TELEGRAM_FILES = "https://api.telegram.org/file/bot"
SETUP_HINT = 'Telegram: TELEGRAM_BOT_TOKEN=...   or  [telegram] token = "..."   (from @BotFather)'


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Telegram Bot API connection."""

    token: str = ""
    api_base_url: str = TELEGRAM_API
    file_base_url: str = TELEGRAM_FILES
    mode: str = "polling"
    webhook_url: str = ""
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token, self.webhook_secret)


def parse_telegram(section: Section, env: Mapping[str, str]) -> TelegramSettings:
    """Read and check the [telegram] section; the environment wins for secrets."""
    telegram = TelegramSettings(
        token=section.secret("token", env, "TELEGRAM_BOT_TOKEN"),
        api_base_url=section.url("api_base_url", TELEGRAM_API, ("http://", "https://")),
        file_base_url=section.url("file_base_url", TELEGRAM_FILES, ("http://", "https://")),
        mode=section.string("mode", "polling"),
        webhook_url=section.url("webhook_url", "", ("https://", "http://")),
        webhook_listen=section.string("webhook_listen", "0.0.0.0"),
        webhook_port=section.integer("webhook_port", 8443, minimum=1),
        webhook_secret=section.secret("webhook_secret", env, "TELEGRAM_WEBHOOK_SECRET"),
    )
    if telegram.mode not in {"polling", "webhook"}:
        raise ConfigError(
            "telegram.mode", f"must be 'polling' or 'webhook', got {telegram.mode!r}"
        )
    if telegram.mode == "webhook" and telegram.enabled and not telegram.webhook_url:
        raise ConfigError("telegram.webhook_url", "is required when mode = 'webhook'")
    return telegram

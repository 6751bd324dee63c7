"""Logging set up once, with every configured secret redacted from every record.

Libraries log URLs that embed secrets (the Telegram Bot API puts the token in every URL) and
tracebacks can quote them, so redaction happens where records are *created*: whatever handler,
formatter or test capture later sees a record, the secret is already gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter strings would redact ordinary words

# Loggers that log request URLs or payloads at INFO/DEBUG: quiet unless something is wrong.
# Adapter plugins add their platform library's (`AdapterPlugin.noisy_loggers`).
NOISY_LOGGERS = ("httpx", "httpcore", "aiohttp.access", "google_genai")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in `text`."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def install_redaction(secrets: Iterable[str]) -> Callable[[], None]:
    """Redact `secrets` from all log records from now on; return a function that undoes it."""
    # URLs carry secrets percent-encoded too: a Telegram token's ':' is '%3A' in file URLs.
    forms = {
        form
        for secret in secrets
        if len(secret) >= MIN_SECRET_LENGTH
        for form in (secret, quote(secret), quote(secret, safe=""), quote_plus(secret))
    }
    hidden = tuple(sorted(forms, key=len, reverse=True))
    previous = logging.getLogRecordFactory()
    if not hidden:
        return lambda: None
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        clean = redact(message, hidden)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info:
            # An inner factory may have rendered the traceback already: redact that too.
            rendered = record.exc_text or formatter.formatException(record.exc_info)
            record.exc_text = redact(rendered, hidden)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, hidden)
        return record

    logging.setLogRecordFactory(factory)

    def undo() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    return undo


def configure_logging(
    level: str,
    secrets: Iterable[str],
    *,
    file: Path | None = None,
    quiet: Iterable[str] = (),
) -> None:
    """Set up the root logger for the process (the entry point calls this once).

    With `file`, records go there and only warnings reach stderr: a terminal conversation
    (`bananabot chat`) must not be interleaved with INFO lines. `quiet` names more noisy
    loggers (the adapters' platform libraries).
    """
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if file is None:
        logging.basicConfig(level=level, format=log_format)
    else:
        file.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(level=level, format=log_format, filename=file, encoding="utf-8")
        terminal = logging.StreamHandler()
        terminal.setLevel(logging.WARNING)
        terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(terminal)
    floor = max(logging.WARNING, logging.getLogger().level)
    for name in (*NOISY_LOGGERS, *quiet):
        logging.getLogger(name).setLevel(floor)
    install_redaction(secrets)

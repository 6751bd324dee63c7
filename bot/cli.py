"""Command line: `bananabot run` serves the chat platforms; `bananabot chat` is a terminal."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

from bot.config import load_settings, secrets_of
from bot.errors import ConfigError
from bot.logsetup import configure_logging

EXIT_CONFIG = 2
CHAT_LOG = "bananabot-chat.log"

NO_TOKEN = """\
bananabot: no chat platform is configured, so there is nothing to run.
Set at least one token, in the environment or in {config}:
  Telegram: TELEGRAM_BOT_TOKEN=...   or  [telegram] token = "..."   (from @BotFather)
  Discord:  DISCORD_BOT_TOKEN=...    or  [discord] token = "..."    (Developer Portal > Bot)
To try the bot without any platform: bananabot chat --config {config} IMAGE.jpg"""

NO_GEMINI_KEY = """\
bananabot: no Gemini API key is configured.
Set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment, or [gemini] api_key in {config}.
Get a key at https://aistudio.google.com/apikey"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bananabot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve Telegram and/or Discord (whichever has a token)")
    run.add_argument("--config", type=Path, default=None, help="path to config.toml")
    chat = sub.add_parser("chat", help="a terminal editing thread (needs only a Gemini key)")
    chat.add_argument("--config", type=Path, default=None, help="path to config.toml")
    chat.add_argument("--out", type=Path, default=None, help="folder for result images")
    chat.add_argument("images", nargs="*", type=Path, help="images to attach to the first turn")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bananabot` command."""
    args = _parser().parse_args(argv)
    config_name = str(args.config or "config.toml")
    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"bananabot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # The terminal is the conversation in `chat`: its log goes to a file beside the data.
    log_file = settings.storage.data_dir / CHAT_LOG if args.command == "chat" else None
    configure_logging(settings.log_level, secrets_of(settings), file=log_file)
    if args.command == "run":
        # Deferred: `chat` and config errors should not pay for importing the server stack.
        from bot.app import enabled_platforms, run_bot  # noqa: PLC0415

        if not enabled_platforms(settings):
            print(NO_TOKEN.format(config=config_name), file=sys.stderr)
            return EXIT_CONFIG
        if not settings.gemini.api_key:
            print(NO_GEMINI_KEY.format(config=config_name), file=sys.stderr)
            return EXIT_CONFIG
        refused: list[BaseException] = []
        try:
            asyncio.run(run_bot(settings))
        except* (ConfigError, ModuleNotFoundError) as group:
            # An adapter refused to start (bad token, a portal switch, a missing extra):
            # say why without a traceback.
            refused = list(group.exceptions)
        for reason in refused:
            print(f"bananabot: {reason}", file=sys.stderr)
        if refused:
            return EXIT_CONFIG
        return 0
    if not settings.gemini.api_key:
        print(NO_GEMINI_KEY.format(config=config_name), file=sys.stderr)
        return EXIT_CONFIG
    # Imported by name like the other adapters: the core never imports a platform statically.
    console = importlib.import_module("adapters.console")
    out_dir = args.out or settings.storage.data_dir / "console"
    return int(asyncio.run(console.run_console(settings, args.images, out_dir)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

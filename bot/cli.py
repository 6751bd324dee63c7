"""Command line: `bananabot run` serves the chat platforms; `bananabot chat` is a terminal;
`bananabot models` lists the image models the configured Gemini key can use; `bananabot
migrate --to postgresql://...` copies the SQLite data_dir into PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bot.capabilities import bare_model_id, capabilities_for, with_prices
from bot.config import ModelPrice, Settings, load_settings, secrets_of
from bot.errors import ConfigError, ModelError
from bot.logsetup import configure_logging
from bot.plugins import Plugins, TerminalPlugin, discover_plugins
from bot.store.transfer import transfer

if TYPE_CHECKING:
    from bot.model import ModelInfo

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 1  # Gemini could not be asked
CHAT_LOG = "bananabot-chat.log"

# Each adapter plugin adds its own line (`AdapterPlugin.setup_hint`).
NO_TOKEN = """\
bananabot: no chat platform is configured, so there is nothing to run.
Set at least one token, in the environment or in {config}:
{hints}
To try the bot without any platform: bananabot chat --config {config} IMAGE.jpg"""

NO_ADAPTER = "  (no adapter plugin is installed: reinstall bananabot, e.g. pip install -e .)"

NO_TERMINAL = """\
bananabot: no terminal plugin is installed, so there is nothing to chat with.
Reinstall bananabot (e.g. pip install -e .) to get its console."""

NO_GEMINI_KEY = """\
bananabot: no Gemini API key is configured.
Set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment, or [gemini] api_key in {config}.
Get a key at https://aistudio.google.com/apikey"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bananabot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve every chat platform whose config enables it")
    run.add_argument("--config", type=Path, default=None, help="path to config.toml")
    chat = sub.add_parser("chat", help="a terminal editing thread (needs only a Gemini key)")
    chat.add_argument("--config", type=Path, default=None, help="path to config.toml")
    chat.add_argument("--out", type=Path, default=None, help="folder for result images")
    chat.add_argument("images", nargs="*", type=Path, help="images to attach to the first turn")
    models = sub.add_parser("models", help="the image models your Gemini API key can use")
    models.add_argument("--config", type=Path, default=None, help="path to config.toml")
    migrate = sub.add_parser(
        "migrate", help="copy the SQLite data_dir into PostgreSQL (again: copies what is missing)"
    )
    migrate.add_argument("--config", type=Path, default=None, help="path to config.toml")
    migrate.add_argument("--to", required=True, help="postgresql://... the target database")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bananabot` command."""
    args = _parser().parse_args(argv)
    config_name = str(args.config or "config.toml")
    try:
        plugins = discover_plugins()
        settings = load_settings(args.config, os.environ, plugins.adapters)
    except ConfigError as exc:
        print(f"bananabot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # The terminal is the conversation in `chat`: its log goes to a file beside the data.
    log_file = settings.storage.data_dir / CHAT_LOG if args.command == "chat" else None
    configure_logging(
        settings.log_level, secrets_of(settings), file=log_file, quiet=plugins.noisy_loggers
    )
    if args.command == "run":
        return _run(settings, plugins, config_name)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings, args.to))
    if not settings.gemini.api_key:
        print(NO_GEMINI_KEY.format(config=config_name), file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "models":
        return asyncio.run(_models(settings))
    if not plugins.terminals:
        print(NO_TERMINAL, file=sys.stderr)
        return EXIT_CONFIG
    out_dir = args.out or settings.storage.data_dir / "console"
    return asyncio.run(_chat(plugins.terminals[0], settings, args.images, out_dir))


async def _migrate(settings: Settings, url: str) -> int:
    """Copy `storage.data_dir` into the database at `url`, with a progress line."""

    def progress(what: str, done: int, total: int) -> None:
        end = "\n" if done >= total else ""  # an empty table ends its line at once
        print(f"\r{what}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    if not url.startswith(("postgresql://", "postgres://")):
        print("bananabot: --to needs a postgresql://... URL", file=sys.stderr)
        return EXIT_CONFIG
    try:
        counts = await transfer(settings.storage.data_dir, url, progress)
    except (OSError, RuntimeError) as exc:
        print(f"bananabot: migration stopped: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    summary = ", ".join(f"{count} {table}" for table, count in counts.items())
    print(f"copied and verified: {summary}")
    return 0


def _run(settings: Settings, plugins: Plugins, config_name: str) -> int:
    """Serve the enabled adapters; say what to set when none is."""
    if not plugins.enabled(settings):
        hints = "\n".join(f"  {hint}" for hint in plugins.setup_hints) or NO_ADAPTER
        print(NO_TOKEN.format(config=config_name, hints=hints), file=sys.stderr)
        return EXIT_CONFIG
    if not settings.gemini.api_key:
        print(NO_GEMINI_KEY.format(config=config_name), file=sys.stderr)
        return EXIT_CONFIG
    # Deferred: config errors should not pay for importing the server stack.
    from bot.app import run_bot  # noqa: PLC0415

    refused: list[BaseException] = []
    try:
        asyncio.run(run_bot(settings, plugins=plugins))
    except* (ConfigError, ModuleNotFoundError) as group:
        # An adapter refused to start (bad token, a portal switch, a missing extra):
        # say why without a traceback.
        refused = list(group.exceptions)
    for reason in refused:
        print(f"bananabot: {reason}", file=sys.stderr)
    if refused:
        return EXIT_CONFIG
    return 0


async def _models(settings: Settings) -> int:
    """Print the image models the key can use, with what bananabot knows of each."""
    from bot.model import GeminiImageModel  # noqa: PLC0415 - deferred like `run`'s stack

    model = GeminiImageModel(settings.gemini)
    try:
        available = [m for m in await model.list_models() if m.makes_images]
    except ModelError as exc:
        print(f"bananabot: cannot list the models: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        await model.aclose()
    print(models_table(available, settings.gemini.model, settings.prices))
    return 0


def models_table(
    models: list[ModelInfo], configured: str, prices: Mapping[str, ModelPrice] | None = None
) -> str:
    """One line per image model: its limits from `bot.capabilities`; `*` marks gemini.model."""
    header = (
        "",
        "model",
        "input images",
        "sizes",
        "aspect ratios",
        "thinking",
        "search",
        "USD/image",
    )
    rows = [header]
    for info in models:
        caps = with_prices(capabilities_for(info.id), info.id, prices or {})
        rows.append(
            (
                "*" if info.id == bare_model_id(configured) else "",
                info.id,
                str(caps.max_input_images),
                " ".join(caps.image_sizes) or "-",
                str(len(caps.aspect_ratios)),
                "yes" if caps.thinking else "no",
                "yes" if caps.search else "no",
                ",".join(f"{size}=${usd:.3f}" for size, usd in caps.prices) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if not any(row[0] for row in rows):
        lines.append(f"gemini.model {configured!r} is not among them.")
    return "\n".join(lines)


async def _chat(
    terminal: TerminalPlugin, settings: Settings, images: list[Path], out_dir: Path
) -> int:
    """Open the engine and hand the terminal to the terminal plugin."""
    from bot.app import open_engine  # noqa: PLC0415 - deferred like `run`'s server stack

    async with open_engine(settings) as engine:
        return await terminal.converse(engine, settings, images, out_dir)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

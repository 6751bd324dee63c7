"""The plugin contract: adapters are found by entry point and own their config section.

An installed distribution registers objects in the `bananabot.adapters` entry point group, for
example in its `pyproject.toml`:

    [project.entry-points."bananabot.adapters"]
    tiny = "tiny_adapter:plugin"

An `AdapterPlugin` is served by `bananabot run`, a `TerminalPlugin` by `bananabot chat`.
Loading an entry point MUST stay cheap: a plugin module imports its platform library only in
`create` (or `converse`), so a config error or `chat` never pays for every platform's stack.
See docs/adapters.md for the whole contract and the smallest working adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.config import CORE_SECTIONS, PluginConfig, Section, Settings
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.engine_port import EnginePort

log = logging.getLogger(__name__)

ADAPTER_GROUP = "bananabot.adapters"


class Adapter(Protocol):
    """A platform connection."""

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down cleanly. MUST NOT return before that
        unless the platform refuses us for good (bad token), in which case it raises
        `ConfigError` naming the key to fix; any other exception is restarted with backoff."""

    @property
    def connected(self) -> bool:
        """Whether it is serving now: logged in and receiving the platform's events (a
        webhook server up, a poll or gateway without a current network error). False before
        `run` got that far and after it ended. `/healthz` reports it; MUST be cheap."""


@runtime_checkable
class AdapterPlugin(Protocol):
    """A chat platform `bananabot run` serves when its section enables it."""

    @property
    def name(self) -> str:
        """The plugin's config section (`[name]`), also its entry point name and log label."""

    @property
    def noisy_loggers(self) -> tuple[str, ...]:
        """Loggers of its platform library that log URLs or payloads: held at WARNING."""

    @property
    def setup_hint(self) -> str:
        """One line saying how to enable it, shown when no adapter is enabled."""

    def parse(self, section: Section, env: Mapping[str, str]) -> PluginConfig:
        """Read its own section with `section`'s typed readers; MUST raise `ConfigError`
        naming the key (`section.key`) for a wrong value. Unread keys are errors too."""

    def create(self, engine: EnginePort, settings: Settings) -> Adapter:
        """Build the adapter (once per start; again after a failure). Its own section is
        `settings.plugin(name, ItsConfig)`. Import the platform library here, not above."""


@runtime_checkable
class TerminalPlugin(Protocol):
    """A local conversation `bananabot chat` runs on this terminal."""

    @property
    def name(self) -> str:
        """The plugin's entry point name."""

    async def converse(
        self, engine: EnginePort, settings: Settings, images: Sequence[Path], out_dir: Path
    ) -> int:
        """Talk on stdin/stdout until the user leaves; return the exit status.

        `images` are attached to the first instruction; result images go to `out_dir`."""


@dataclass(frozen=True, slots=True)
class DeclaredAdapter:
    """An `AdapterPlugin` declared from its parts, so a platform package writes only those.

    `build` is called by `create` and is where the platform library gets imported.
    """

    name: str
    parse_section: Callable[[Section, Mapping[str, str]], PluginConfig]
    build: Callable[[EnginePort, Settings], Adapter]
    setup_hint: str
    noisy_loggers: tuple[str, ...] = ()

    def parse(self, section: Section, env: Mapping[str, str]) -> PluginConfig:
        """Read the plugin's own section."""
        return self.parse_section(section, env)

    def create(self, engine: EnginePort, settings: Settings) -> Adapter:
        """Build the adapter (importing its platform library now)."""
        return self.build(engine, settings)


@dataclass(frozen=True, slots=True)
class Plugins:
    """Every installed plugin, each kind sorted by name."""

    adapters: tuple[AdapterPlugin, ...] = ()
    terminals: tuple[TerminalPlugin, ...] = ()

    @property
    def noisy_loggers(self) -> tuple[str, ...]:
        """Every adapter's noisy loggers."""
        return tuple(name for plugin in self.adapters for name in plugin.noisy_loggers)

    @property
    def setup_hints(self) -> tuple[str, ...]:
        """How to enable each adapter, one line each."""
        return tuple(plugin.setup_hint for plugin in self.adapters)

    def enabled(self, settings: Settings) -> list[AdapterPlugin]:
        """The adapters whose parsed section enables them."""
        return [p for p in self.adapters if _is_enabled(settings.plugins.get(p.name))]


def _is_enabled(config: PluginConfig | None) -> bool:
    return config is not None and config.enabled


def _load(entry: EntryPoint) -> object:
    try:
        loaded: object = entry.load()
    except Exception as exc:  # an import error in someone else's package, say
        raise ConfigError(
            f"{ADAPTER_GROUP}:{entry.name}", f"cannot load {entry.value} ({exc})"
        ) from exc
    return loaded


def plugins_of(entries: Iterable[EntryPoint]) -> Plugins:
    """Load and sort entry points; refuse objects that are no plugin and clashing names."""
    adapters: dict[str, AdapterPlugin] = {}
    terminals: dict[str, TerminalPlugin] = {}
    for entry in entries:
        where = f"{ADAPTER_GROUP}:{entry.name}"
        loaded = _load(entry)
        if isinstance(loaded, AdapterPlugin):
            if loaded.name in CORE_SECTIONS:
                raise ConfigError(where, f"section [{loaded.name}] belongs to the core")
            if loaded.name in adapters:
                raise ConfigError(where, f"section [{loaded.name}] is claimed twice")
            adapters[loaded.name] = loaded
        elif isinstance(loaded, TerminalPlugin):
            terminals.setdefault(loaded.name, loaded)
        else:
            raise ConfigError(where, f"{entry.value} is neither an adapter nor a terminal plugin")
    return Plugins(
        tuple(adapters[name] for name in sorted(adapters)),
        tuple(terminals[name] for name in sorted(terminals)),
    )


def discover_plugins() -> Plugins:
    """Every plugin installed in the `bananabot.adapters` entry point group."""
    plugins = plugins_of(entry_points(group=ADAPTER_GROUP))
    log.debug(
        "plugins: adapters %s, terminals %s",
        [p.name for p in plugins.adapters],
        [p.name for p in plugins.terminals],
    )
    return plugins

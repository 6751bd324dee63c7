"""Read config.toml and the environment once into frozen, validated settings.

The core reads its own sections (`CORE_SECTIONS`: gemini, storage, server ...); every other
section belongs to the adapter plugin of that name, which parses it with a `Section` reader (see
`bot.plugins`). Secrets may come from the file or the environment; the environment wins. Every
unknown section, unknown key and wrong value stops start-up with a `ConfigError` naming it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.errors import ConfigError
from bot.styles import RESERVED, valid_name

T = TypeVar("T")

# Nano Banana 2, generally available (ai.google.dev/models/gemini, checked 2026-12).
DEFAULT_MODEL = "gemini-3.1-flash-image"
MAX_VARIATIONS = 4
CORE_SECTIONS = (
    "gemini",
    "storage",
    "access",
    "limits",
    "logging",
    "iteration",
    "prices",
    "references",
    "styles",
    "server",
)


@dataclass(frozen=True, slots=True)
class GeminiSettings:
    """How to reach the image model."""

    api_key: str = ""
    model: str = DEFAULT_MODEL
    api_version: str = "v1beta"
    base_url: str = ""
    timeout_s: float = 120.0
    max_concurrent_requests: int = 8
    retry_attempts: int = 3
    retry_backoff_s: float = 1.0  # first backoff after a 5xx or timeout; doubles per attempt
    # Models users may pick in /settings; the configured `model` is always allowed.
    allowed_models: tuple[str, ...] = ()
    # Overrides of the built-in capability table (bot.capabilities) for `model`.
    max_input_images: int | None = None
    context_budget_mb: float = 16.0
    system_instruction: str = ""
    # Stream thinking models' interim images to the chat as drafts (a chat may turn it off).
    previews: bool = True
    # Models offered the Google Search tool; None: the capability table decides.
    search_models: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class IterationSettings:
    """The one-tap next steps under a result."""

    variations: int = 3  # sibling answers Variations asks for (at most 4)
    # Upscale for chats whose model has no sizes: this model at this size ("" = not offered).
    upscale_model: str = ""
    upscale_size: str = "4K"


@dataclass(frozen=True, slots=True)
class ReferenceSettings:
    """Named references (#NAME): how many a chat and a user may keep, and their size."""

    max_per_chat: int = 50
    max_per_user: int = 50
    max_images: int = 4


@dataclass(frozen=True, slots=True)
class StyleSettings:
    """A style from `[[styles]]`: a text-only reference every chat can use as #NAME."""

    name: str
    prompt: str


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A model's prices, overriding the built-in table (`[prices."model-id"]`)."""

    input_per_million: float | None = None  # USD per 1M input tokens
    image: tuple[tuple[str, float], ...] = ()  # (size, USD per output image)


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Where state lives: a SQLite file and an image folder, or a PostgreSQL database."""

    data_dir: Path = Path("data")
    retention_days: float = 0  # 0: keep forever
    backend: str = "sqlite"  # or "postgresql"
    database_url: str = ""  # postgresql://user:password@host/db (a secret: it holds one)
    pool_size: int = 10  # PostgreSQL connections per instance
    instance: str = ""  # this process's name among those sharing the database; "" = host:pid


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The health and metrics endpoint (`/healthz`, `/metrics`); off while `port` is 0."""

    listen: str = "127.0.0.1"  # loopback: metrics are not for the public internet
    port: int = 0

    @property
    def enabled(self) -> bool:
        return self.port > 0


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """Who may use the bot; empty lists mean no restriction."""

    allowed_chats: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    blocked_chats: tuple[str, ...] = ()
    blocked_users: tuple[str, ...] = ()
    allowed_guilds: tuple[str, ...] = ()  # Discord servers
    blocked_guilds: tuple[str, ...] = ()
    allowed_roles: tuple[str, ...] = ()  # Discord role ids; a member needs one of them
    blocked_roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Input bounds that protect the model bill and the machine."""

    max_prompt_chars: int = 4000
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    daily_images_per_user: int = 0  # 0: unlimited
    daily_images_per_chat: int = 0  # per Telegram chat or Discord server; 0: unlimited
    max_inflight_per_user: int = 2
    # Estimated US dollars a day (see bot/capabilities.py prices); 0: unlimited.
    daily_cost_usd_per_user: float = 0.0
    daily_cost_usd_per_chat: float = 0.0


class PluginConfig(Protocol):
    """A plugin's own section, parsed and validated by the plugin."""

    @property
    def enabled(self) -> bool:
        """Whether `bananabot run` should start this adapter (its token is set, say)."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret in the section (empty ones allowed); all are redacted from logs."""


class SectionParser(Protocol):
    """Who owns a config section beyond the core's: an adapter plugin."""

    @property
    def name(self) -> str:
        """The section's name, e.g. "tiny" for `[tiny]`."""

    def parse(self, section: Section, env: Mapping[str, str]) -> PluginConfig:
        """Read the section; raise `ConfigError` naming the key for a wrong value.

        Keys never read are reported as unknown after this returns.
        """


C = TypeVar("C", bound=PluginConfig)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot reads at start-up."""

    gemini: GeminiSettings = field(default_factory=GeminiSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    iteration: IterationSettings = field(default_factory=IterationSettings)
    # Price overrides by model id prefix (longest wins), as in bot/capabilities.py.
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    references: ReferenceSettings = field(default_factory=ReferenceSettings)
    # `[[styles]]`: replace built-in styles of the same name, add new ones.
    styles: tuple[StyleSettings, ...] = ()
    server: ServerSettings = field(default_factory=ServerSettings)
    log_level: str = "INFO"
    plugins: Mapping[str, PluginConfig] = field(default_factory=dict)  # by section name

    def plugin(self, name: str, kind: type[C]) -> C:
        """The parsed section `name`; `kind`'s defaults when it was not parsed."""
        config = self.plugins.get(name)
        if config is None:
            return kind()
        if not isinstance(config, kind):
            raise TypeError(f"section {name} holds {type(config).__name__}, not {kind.__name__}")
        return config


class Section:
    """Typed reads from one TOML table that remember which keys were used.

    Errors name the key as `section.key`; `finish` reports every key nobody read.
    """

    def __init__(self, name: str, table: object) -> None:
        if not isinstance(table, dict):
            raise ConfigError(name, "must be a table")
        self.name = name
        self.table: dict[str, Any] = table
        self.used: set[str] = set()

    def _get(self, key: str, default: T, kind: type, convert: Callable[[Any], T]) -> T:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        # bool is an int in Python; a TOML `true` for a number is still a mistake.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{self.name}.{key}", f"expected {kind.__name__}, got {value!r}")
        return convert(value)

    def string(self, key: str, default: str) -> str:
        return self._get(key, default, str, str)

    def flag(self, key: str, default: bool) -> bool:
        return self._get(key, default, bool, bool)

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self._get(key, default, int, int)
        if value < minimum:
            raise ConfigError(f"{self.name}.{key}", f"must be >= {minimum}, got {value}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        self.used.add(key)
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.name}.{key}", f"expected a number, got {value!r}")
        if value < minimum:
            raise ConfigError(f"{self.name}.{key}", f"must be >= {minimum}, got {value}")
        return float(value)

    def optional_int(self, key: str) -> int | None:
        if key not in self.table:
            self.used.add(key)
            return None
        return self.integer(key, 0, minimum=1)

    def ids(self, key: str) -> tuple[str, ...]:
        """Read a list of ids; numbers and strings are both accepted (Telegram ids are ints)."""
        self.used.add(key)
        value = self.table.get(key, [])
        if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int | str) for v in value
        ):
            raise ConfigError(f"{self.name}.{key}", f"expected a list of ids, got {value!r}")
        return tuple(str(v) for v in value)

    def strings(self, key: str) -> tuple[str, ...]:
        self.used.add(key)
        value = self.table.get(key, [])
        if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
            raise ConfigError(f"{self.name}.{key}", f"expected a list of strings, got {value!r}")
        return tuple(value)

    def url(self, key: str, default: str, schemes: tuple[str, ...]) -> str:
        """Read a URL that must start with one of `schemes` (empty is allowed)."""
        value = self.string(key, default).strip()
        if value and not value.startswith(schemes):
            raise ConfigError(f"{self.name}.{key}", f"must start with {' or '.join(schemes)}")
        return value

    def secret(self, key: str, env: Mapping[str, str], *names: str) -> str:
        """Read a secret: the first of the environment variables `names` set wins over `key`."""
        from_file = self.string(key, "")
        for name in names:
            if env.get(name):
                return env[name].strip()
        return from_file.strip()

    def finish(self) -> None:
        """Stop at the first key nobody read: a typo, most likely."""
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(f"{self.name}.{unknown[0]}", "unknown key (typo?)")


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """Every secret in the settings, the plugins' included, for log redaction."""
    candidates = [settings.gemini.api_key, settings.storage.database_url]
    for config in settings.plugins.values():
        candidates.extend(config.secrets)
    return tuple(s for s in candidates if s)


def parse_settings(
    raw: Mapping[str, object], env: Mapping[str, str], plugins: Iterable[SectionParser] = ()
) -> Settings:
    """Validate a parsed TOML document plus the environment into `Settings`.

    Each of `plugins` parses the section of its name (present or not); a section that neither
    the core nor a plugin owns is an error.
    """
    owners = {plugin.name: plugin for plugin in plugins}
    for name in owners:
        if name in CORE_SECTIONS:
            raise ConfigError(name, "is a core section; a plugin may not claim it")
    for name in raw:
        if name not in CORE_SECTIONS and name not in owners:
            raise ConfigError(name, "unknown section (typo?)")

    g = Section("gemini", raw.get("gemini", {}))
    # GOOGLE_API_KEY first: google-genai itself gives it precedence over GEMINI_API_KEY.
    gemini = GeminiSettings(
        api_key=g.secret("api_key", env, "GOOGLE_API_KEY", "GEMINI_API_KEY"),
        model=g.string("model", DEFAULT_MODEL).strip() or DEFAULT_MODEL,
        api_version=g.string("api_version", "v1beta").strip(),
        base_url=g.url("base_url", "", ("http://", "https://")).rstrip("/"),
        timeout_s=g.number("timeout_s", 120.0, minimum=0.1),
        max_concurrent_requests=g.integer("max_concurrent_requests", 8, minimum=1),
        retry_attempts=g.integer("retry_attempts", 3, minimum=1),
        retry_backoff_s=g.number("retry_backoff_s", 1.0),
        allowed_models=g.strings("allowed_models"),
        max_input_images=g.optional_int("max_input_images"),
        context_budget_mb=g.number("context_budget_mb", 16.0, minimum=1.0),
        system_instruction=g.string("system_instruction", ""),
        previews=g.flag("previews", True),
        search_models=g.strings("search_models") if "search_models" in g.table else None,
    )
    if gemini.api_version not in {"v1", "v1beta", "v1alpha"}:
        raise ConfigError("gemini.api_version", "must be v1, v1beta or v1alpha")
    g.finish()

    s = Section("storage", raw.get("storage", {}))
    # The container image sets BANANABOT_DATA_DIR=/data so a mounted config needs no edit.
    data_dir = s.string("data_dir", "data")
    storage = StorageSettings(
        data_dir=Path(env.get("BANANABOT_DATA_DIR") or data_dir).expanduser(),
        retention_days=s.number("retention_days", 0),
        backend=s.string("backend", "sqlite"),
        database_url=s.secret("database_url", env, "BANANABOT_DATABASE_URL"),
        pool_size=s.integer("pool_size", 10, minimum=1),
        instance=env.get("BANANABOT_INSTANCE") or s.string("instance", ""),
    )
    if storage.backend not in ("sqlite", "postgresql"):
        raise ConfigError("storage.backend", 'must be "sqlite" or "postgresql"')
    if storage.backend == "postgresql" and not storage.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise ConfigError(
            "storage.database_url", "needs postgresql://... (or BANANABOT_DATABASE_URL)"
        )
    s.finish()

    a = Section("access", raw.get("access", {}))
    access = AccessSettings(
        allowed_chats=a.ids("allowed_chats"),
        allowed_users=a.ids("allowed_users"),
        admins=a.ids("admins"),
        blocked_chats=a.ids("blocked_chats"),
        blocked_users=a.ids("blocked_users"),
        allowed_guilds=a.ids("allowed_guilds"),
        blocked_guilds=a.ids("blocked_guilds"),
        allowed_roles=a.ids("allowed_roles"),
        blocked_roles=a.ids("blocked_roles"),
    )
    a.finish()

    lim = Section("limits", raw.get("limits", {}))
    limits = LimitSettings(
        max_prompt_chars=lim.integer("max_prompt_chars", 4000, minimum=1),
        max_image_bytes=lim.integer("max_image_bytes", 20 * 1024 * 1024, minimum=1024),
        max_image_pixels=lim.integer("max_image_pixels", 40_000_000, minimum=10_000),
        daily_images_per_user=lim.integer("daily_images_per_user", 0),
        daily_images_per_chat=lim.integer("daily_images_per_chat", 0),
        max_inflight_per_user=lim.integer("max_inflight_per_user", 2, minimum=1),
        daily_cost_usd_per_user=lim.number("daily_cost_usd_per_user", 0.0),
        daily_cost_usd_per_chat=lim.number("daily_cost_usd_per_chat", 0.0),
    )
    lim.finish()

    it = Section("iteration", raw.get("iteration", {}))
    iteration = IterationSettings(
        variations=it.integer("variations", 3, minimum=1),
        upscale_model=it.string("upscale_model", "").strip(),
        upscale_size=it.string("upscale_size", "4K").strip(),
    )
    if iteration.variations > MAX_VARIATIONS:
        raise ConfigError("iteration.variations", f"must be at most {MAX_VARIATIONS}")
    it.finish()

    prices = _prices(raw.get("prices", {}))

    rf = Section("references", raw.get("references", {}))
    references = ReferenceSettings(
        max_per_chat=rf.integer("max_per_chat", 50, minimum=1),
        max_per_user=rf.integer("max_per_user", 50, minimum=1),
        max_images=rf.integer("max_images", 4, minimum=1),
    )
    rf.finish()
    styles = _styles(raw.get("styles", []))
    server = _server(raw.get("server", {}))

    lg = Section("logging", raw.get("logging", {}))
    level = lg.string("level", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("logging.level", "must be DEBUG, INFO, WARNING or ERROR")
    lg.finish()

    configs: dict[str, PluginConfig] = {}
    for name, plugin in sorted(owners.items()):
        section = Section(name, raw.get(name, {}))
        configs[name] = plugin.parse(section, env)
        section.finish()

    return Settings(
        gemini=gemini,
        storage=storage,
        access=access,
        limits=limits,
        iteration=iteration,
        prices=prices,
        references=references,
        styles=styles,
        server=server,
        log_level=level,
        plugins=configs,
    )


def _prices(table: object) -> dict[str, ModelPrice]:
    """`[prices."model-id"]` tables: `input_per_million = 0.5`, `image = { "1K" = 0.067 }`."""
    if not isinstance(table, dict):
        raise ConfigError("prices", "must be a table of models")
    prices = {}
    for model, entry in table.items():
        section = Section(f"prices.{model}", entry)
        given = "input_per_million" in section.table
        per_million = section.number("input_per_million", 0.0)
        images = section.table.get("image", {})
        section.used.add("image")
        if not isinstance(images, dict) or any(
            isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in images.values()
        ):
            raise ConfigError(f"prices.{model}.image", "expected a table of size = USD")
        section.finish()
        prices[model] = ModelPrice(
            per_million if given else None,
            tuple((str(size), float(usd)) for size, usd in images.items()),
        )
    return prices


def _server(table: object) -> ServerSettings:
    """`[server]`: `listen` and `port` of /healthz and /metrics (port 0 or absent: off)."""
    section = Section("server", table)
    server = ServerSettings(
        listen=section.string("listen", "127.0.0.1").strip(),
        port=section.integer("port", 0),
    )
    section.finish()
    if server.port > 65535:
        raise ConfigError("server.port", f"must be at most 65535, got {server.port}")
    if server.enabled and not server.listen:
        raise ConfigError("server.listen", "needs an address to bind, e.g. 0.0.0.0")
    return server


def _styles(entries: object) -> tuple[StyleSettings, ...]:
    """`[[styles]]` entries: `name = "noir"`, `prompt = "..."`."""
    if not isinstance(entries, list):
        raise ConfigError("styles", "must be an array of tables: [[styles]]")
    styles = []
    for n, entry in enumerate(entries, start=1):
        section = Section(f"styles[{n}]", entry)
        name, prompt = section.string("name", "").strip(), section.string("prompt", "").strip()
        section.finish()
        if not name or not prompt:
            raise ConfigError(f"styles[{n}]", "needs a name and a prompt")
        if not valid_name(name) or name.casefold() in RESERVED:
            raise ConfigError(
                f"styles[{n}].name",
                f"{name!r}: 1-32 letters, digits, _ or -, not {sorted(RESERVED)}",
            )
        styles.append(StyleSettings(name, prompt))
    return tuple(styles)


def load_settings(
    path: Path | None, env: Mapping[str, str], plugins: Iterable[SectionParser] = ()
) -> Settings:
    """Read `path` (if given) and the environment; `plugins` parse their own sections."""
    raw: dict[str, object] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(str(path), "file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    return parse_settings(raw, env, plugins)

"""Per-chat settings: which keys exist, what each may be in a chat, who may change them.

One service for every platform: adapters build their menus from `KEYS` and `choices()`, and
ask `may_change()` with the platform's own answer to "is this user an admin of the chat".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from bot import messages
from bot.capabilities import ModelCapabilities, bare_model_id, capabilities_for, with_prices
from bot.config import Settings
from bot.errors import InputRejected
from bot.explain import setting_label
from bot.limits import AccessPolicy
from bot.model import GenerationSettings
from bot.request import Author, ChatKey, GenerationOptions
from bot.store import Store

# The order people see.
KEYS = ("aspect_ratio", "image_size", "model", "previews", "search", "language")
# The model is applied first: it decides which sizes, ratios and switches are valid.
APPLY_ORDER = ("model", "language", "aspect_ratio", "image_size", "previews", "search")
# These differ per model: a model change drops choices the new one lacks.
MODEL_DEPENDENT = ("aspect_ratio", "image_size", "previews", "search")
RESET = "default"  # the choice that clears a setting, on every platform
ON, OFF = "on", "off"
SWITCH = (ON, OFF)


@dataclass(frozen=True, slots=True)
class SettingLine:
    """One setting of a chat as a menu shows it."""

    key: str
    label: str
    value: str | None  # None: the chat chose nothing (the default applies)
    shown: str  # the value, or "default" in the user's language
    choices: tuple[str, ...]  # empty: nothing to choose with the chat's model


class ChatSettings:
    """Reads, validates and changes the settings of chats."""

    def __init__(self, settings: Settings, store: Store, access: AccessPolicy) -> None:
        self._settings = settings
        self._store = store
        self._access = access

    async def stored(self, chat: ChatKey) -> dict[str, str]:
        """The chat's choices, a thread's from its channel (keys never set are absent)."""
        return await self._store.chat_settings(chat.settings_scope)

    async def locale(self, chat: ChatKey, author: Author) -> str | None:
        """The chat's language setting, else the author's platform locale."""
        return (await self.stored(chat)).get("language") or author.locale

    async def choices(self, chat: ChatKey) -> dict[str, tuple[str, ...]]:
        """What each setting may be set to in `chat`, given its current model."""
        caps = self.caps((await self.generation(chat, GenerationOptions())).model)
        models = (self._settings.gemini.model, *self._settings.gemini.allowed_models)
        return {
            "aspect_ratio": caps.aspect_ratios,
            "image_size": caps.image_sizes,
            "model": tuple(dict.fromkeys(models)),
            # Only thinking models show drafts; only some models take the search tool.
            "previews": SWITCH if caps.thinking else (),
            "search": SWITCH if caps.search else (),
            "language": messages.LANGUAGES,
        }

    async def lines(self, chat: ChatKey, locale: str | None) -> list[SettingLine]:
        """Every setting of `chat` with its value and choices, labelled for people."""
        stored = await self.stored(chat)
        choices = await self.choices(chat)
        default = messages.text("setting_default", locale)
        return [
            SettingLine(
                key,
                setting_label(key, locale),
                stored.get(key),
                stored.get(key) or default,
                choices[key],
            )
            for key in KEYS
        ]

    async def check(self, chat: ChatKey, key: str, value: str) -> None:
        """Raise `InputRejected` unless `value` is offered for `key` in `chat`."""
        if value not in (await self.choices(chat)).get(key, ()):
            raise InputRejected("bad_setting", key=key, value=value)

    async def apply(self, chat: ChatKey, changes: Mapping[str, str]) -> None:
        """Change several settings (`RESET` clears one), the model first."""
        for key in (k for k in APPLY_ORDER if k in changes):
            await self.change(chat, key, None if changes[key] == RESET else changes[key])

    async def change(self, chat: ChatKey, key: str, value: str | None) -> None:
        """Set (None: reset) one setting; raise `InputRejected` for a value not offered."""
        choices = await self.choices(chat)
        if key not in choices or (value is not None and value not in choices[key]):
            raise InputRejected("bad_setting", key=key, value=value or "")
        await self._store.update_chat_settings(chat.settings_scope, {key: value})
        if key == "model":
            new = await self.choices(chat)
            stored = await self.stored(chat)
            stale: dict[str, str | None] = {
                k: None for k in MODEL_DEPENDENT if k in stored and stored[k] not in new[k]
            }
            if stale:
                await self._store.update_chat_settings(chat.settings_scope, stale)

    async def may_change(
        self,
        chat: ChatKey,
        author: Author,
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> bool:
        """Whether `author` may change `chat`'s settings.

        Bot admins may anywhere; people the access rules refuse may nowhere; in a private chat
        the user is the whole audience; elsewhere it takes the platform's admin right, which
        `chat_admin` asks only when needed (it may cost a platform call).
        """
        if self._access.is_admin(chat, author):
            return True
        if not self._access.allows(chat, author):
            return False
        return private or await chat_admin()

    async def generation(
        self, chat: ChatKey, wanted: GenerationOptions, stored: dict[str, str] | None = None
    ) -> GenerationSettings:
        """The model and image options for a request: its own, else the chat's, else defaults."""
        if stored is None:
            stored = await self.stored(chat)
        configured = self._settings.gemini.model
        model = wanted.model or stored.get("model") or configured
        if model != configured and model not in self._settings.gemini.allowed_models:
            model = configured
        caps = self.caps(model)
        ratio = wanted.aspect_ratio or stored.get("aspect_ratio")
        size = wanted.image_size or stored.get("image_size")
        previews = stored.get("previews", ON if self._settings.gemini.previews else OFF) == ON
        return GenerationSettings(
            model=model,
            aspect_ratio=ratio if ratio in caps.aspect_ratios else None,
            image_size=size if size in caps.image_sizes else None,
            search=caps.search and stored.get("search") == ON,
            thoughts=caps.thinking and previews,
        )

    def caps(self, model: str) -> ModelCapabilities:
        """What `model` accepts; the configured model's input limit may be overridden."""
        override = (
            self._settings.gemini.max_input_images
            if model == self._settings.gemini.model
            else None
        )
        caps = capabilities_for(model, max_input_images=override)
        caps = with_prices(caps, bare_model_id(model), self._settings.prices)
        search_models = self._settings.gemini.search_models
        if search_models is not None:
            bare = bare_model_id(model)
            caps = replace(caps, search=any(bare.startswith(m) for m in search_models))
        return caps

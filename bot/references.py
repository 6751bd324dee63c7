"""Named references (#NAME): a character, a product or a look, kept across conversations.

A reference saved in a chat belongs to that chat (everyone there may use it; a Discord channel
shares its with its threads); one saved in a private chat is its owner's, usable anywhere.
`#NAME` in an instruction adds it to the user turn: "Reference #NAME:", its images, its style
text, then the instruction unchanged. Names are looked up in the chat first, then among the
author's own, then among the styles (`bot.styles` and `[[styles]]`).
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.config import Settings
from bot.errors import InputRejected
from bot.limits import AccessPolicy
from bot.lineage import ImageRef, Part
from bot.request import Author, ChatKey
from bot.store import Reference, Store
from bot.styles import BUILT_IN_STYLES, RESERVED, is_name_char, valid_name

STYLE_SCOPE = "style"
# "#ff8800", "#3", "#1st": colours and numbers, not names, when no reference is called that.
_INCIDENTAL = re.compile(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}|\d\w*")
_COLON = re.compile("[:：]")  # a full-width colon too: Chinese keyboards type it


def mentions(text: str) -> list[str]:
    """The #NAMEs in `text`, in order, each once (by key).

    A `#` counts at the start of a word only: not in "<#123>" (a Discord channel), "&#38;",
    "a#b" or "##" (Chinese and Japanese put no space before a word, so "把#英雄 放在" counts).
    A name runs to the next space or punctuation; a run longer than a name is no mention.
    """
    found: dict[str, str] = {}
    for match in re.finditer("#", text):
        at = match.start()
        before = text[at - 1] if at else " "
        if (before.isascii() and is_name_char(before)) or before in "<&#/":
            continue
        end = at + 1
        while end < len(text) and is_name_char(text[end]):
            end += 1
        name = text[at + 1 : end]
        if valid_name(name) and (end == len(text) or text[end] != "#"):
            found.setdefault(name.casefold(), name)
    return list(found.values())


def incidental(name: str) -> bool:
    """Whether an unknown #name is more likely a colour or a number than a typo."""
    return bool(_INCIDENTAL.fullmatch(name))


def reference_parts(references: Sequence[Reference]) -> list[Part]:
    """What each reference adds to a user turn, before the instruction."""
    parts: list[Part] = []
    for reference in references:
        parts.append(Part(text=f"Reference #{reference.name}:"))
        parts += [Part(image=image) for image in reference.images]
        if reference.prompt:
            parts.append(Part(text=reference.prompt))
    return parts


@dataclass(frozen=True, slots=True)
class RefCommand:
    """A text /ref command: list (no words), save, delete, or anything else (usage)."""

    verb: str  # "list" | "save" | "delete" | "usage"
    name: str = ""
    prompt: str = ""


def parse_command(text: str) -> RefCommand:
    """`""` / `list`, `save NAME`, `save NAME: a style prompt`, `delete NAME`.

    The name is everything up to the colon (checked later, so "my hero" gets told why not).
    """
    verb, _, rest = text.strip().partition(" ")
    verb = verb.casefold()
    if verb in ("", "list"):
        return RefCommand("list")
    name, prompt = _split(rest)
    if verb not in ("save", "delete") or not name:
        return RefCommand("usage")
    return RefCommand(verb, name.removeprefix("#"), prompt)


def _split(rest: str) -> tuple[str, str]:
    """(name, prompt) from "NAME: prompt" or "NAME"."""
    parts = _COLON.split(rest, maxsplit=1)
    return parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""


class References:
    """Saving, finding, listing and deleting references, under the limits and rules."""

    def __init__(self, settings: Settings, store: Store, access: AccessPolicy) -> None:
        self._settings = settings.references
        self._store = store
        self._access = access
        styles = dict(BUILT_IN_STYLES)
        for style in settings.styles:
            styles = {k: v for k, v in styles.items() if k.casefold() != style.name.casefold()}
            styles[style.name] = style.prompt
        self.styles = tuple(
            Reference("", STYLE_SCOPE, name, "", prompt=prompt)
            for name, prompt in sorted(styles.items(), key=lambda item: item[0].casefold())
        )

    @staticmethod
    def scope_of(chat: ChatKey, author: Author, *, private: bool) -> str:
        """Where a reference saved here lives: the author's own in a private chat."""
        return f"user:{author.user_id}" if private else f"chat:{chat.settings_scope.chat_id}"

    async def saved(self, chat: ChatKey, author: Author) -> list[Reference]:
        """The chat's references, then the author's own (styles not included)."""
        scopes = [f"chat:{chat.settings_scope.chat_id}", f"user:{author.user_id}"]
        return await self._store.references(chat.platform, scopes)

    async def usable(self, chat: ChatKey, author: Author) -> dict[str, Reference]:
        """Every reference `author` may use here, by key; the first of a name wins."""
        usable: dict[str, Reference] = {}
        for reference in (*await self.saved(chat, author), *self.styles):
            usable.setdefault(reference.key, reference)
        return usable

    async def resolve(
        self, chat: ChatKey, author: Author, names: Sequence[str]
    ) -> tuple[Reference, ...]:
        """The references `names` name; an unknown one is refused with the closest names,
        unless it looks like a colour or a number (then it is just text)."""
        if not names:
            return ()
        usable = await self.usable(chat, author)
        found: list[Reference] = []
        for name in dict.fromkeys(names):
            reference = usable.get(name.casefold())
            if reference is not None:
                found.append(reference)
            elif not incidental(name):
                raise self._unknown(name, usable)
        return tuple(dict.fromkeys(found))

    def _unknown(self, name: str, usable: dict[str, Reference]) -> InputRejected:
        close = difflib.get_close_matches(name.casefold(), list(usable), n=3, cutoff=0.5)
        if close:
            names = ", ".join(f"#{usable[key].name}" for key in close)
            return InputRejected("reference_unknown_close", name=name, names=names)
        return InputRejected("reference_unknown", name=name)

    async def admit(
        self,
        chat: ChatKey,
        author: Author,
        name: str,
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """Check that `author` may save `name` here (before any picture is fetched); return
        the scope it goes to. A new name needs room; a taken one, the right to replace it."""
        self.check_name(name)
        scope = self.scope_of(chat, author, private=private)
        here = await self._store.references(chat.platform, [scope])
        existing = next((r for r in here if r.key == name.casefold()), None)
        if existing is not None:
            await self._may_manage(existing, author, chat, chat_admin)
        else:
            await self._check_room(chat, author, scope, len(here))
        return scope

    async def keep(
        self,
        chat: ChatKey,
        author: Author,
        scope: str,
        name: str,
        images: Sequence[ImageRef],
        prompt: str,
    ) -> Reference:
        """Store a reference `admit` let through (replacing the one of its name)."""
        reference = Reference(
            chat.platform, scope, name, author.user_id, tuple(images), prompt, time.time()
        )
        await self._store.save_reference(reference)
        return reference

    def check_name(self, name: str) -> None:
        """Refuse a name that is not one, or that /ref or a style already uses."""
        if not valid_name(name):
            raise InputRejected("reference_bad_name", name=name)
        key = name.casefold()
        if key in RESERVED or any(style.key == key for style in self.styles):
            raise InputRejected("reference_reserved", name=name)

    async def delete(
        self,
        chat: ChatKey,
        author: Author,
        name: str,
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> Reference:
        """Delete a reference here (the chat's, or in a private chat the author's own)."""
        scope = self.scope_of(chat, author, private=private)
        key = name.casefold()
        found = [r for r in await self.saved(chat, author) if r.key == key]
        # In a group, the chat's reference of that name; else the author's own.
        existing = next((r for r in found if r.scope == scope), found[0] if found else None)
        if existing is None:
            raise InputRejected("reference_not_here", name=name)
        await self._may_manage(existing, author, chat, chat_admin)
        await self._store.delete_reference(chat.platform, existing.scope, existing.key)
        return existing

    async def forget(self, platform: str, owner_id: str) -> int:
        """Delete every reference `owner_id` saved on `platform`; return how many."""
        owned = await self._store.references_by_owner(platform, owner_id)
        for reference in owned:
            await self._store.delete_reference(platform, reference.scope, reference.key)
        return len(owned)

    async def _may_manage(
        self,
        reference: Reference,
        author: Author,
        chat: ChatKey,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> None:
        """Its owner may replace or delete a reference; so may bot admins, and chat admins
        a chat's reference."""
        if reference.owner_id == author.user_id or self._access.is_admin(chat, author):
            return
        if reference.scope.startswith("chat:") and await chat_admin():
            return
        raise InputRejected("reference_not_yours", name=reference.name)

    async def _check_room(self, chat: ChatKey, author: Author, scope: str, here: int) -> None:
        limits = self._settings
        if scope.startswith("chat:") and here >= limits.max_per_chat:
            raise InputRejected("reference_chat_full", limit=limits.max_per_chat)
        owned = await self._store.references_by_owner(chat.platform, author.user_id)
        if len(owned) >= limits.max_per_user:
            raise InputRejected("reference_user_full", limit=limits.max_per_user)

"""What users do through interactions: slash commands, autocomplete, menus, buttons, modals."""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.protocol import (
    EVERYONE_PERMISSIONS,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_COMPONENT,
    INTERACTION_MODAL_SUBMIT,
    Json,
    nested,
)
from tests.fakes.discord.records import FakeGuild, FakeInteraction


class Interactions(Gateway):
    """Test helpers that dispatch INTERACTION_CREATE the way Discord builds it."""

    def expire_interaction(self, interaction: FakeInteraction | str) -> None:
        """Later callbacks answer 404 10062 and follow-ups/edits 404 10015."""
        token = interaction if isinstance(interaction, str) else interaction.token
        self.interactions[token].expired = True

    def _command_id(self, name: str, type_: int, guild_id: int | None) -> tuple[int, bool]:
        """(command id, registered as a guild command for guild_id)."""
        if guild_id is not None:
            for cmd in self.guild_commands.get(guild_id, []):
                if cmd["name"] == name and int(cmd.get("type", 1)) == type_:
                    return int(cmd["id"]), True
        for cmd in self.global_commands:
            if cmd["name"] == name and int(cmd.get("type", 1)) == type_:
                return int(cmd["id"]), False
        key = (name, type_)
        if key not in self._command_ids:
            self._command_ids[key] = self.snowflake()
        return self._command_ids[key], False

    def _command_data(self, name: str, type_: int, guild_id: int | None) -> Json:
        command_id, is_guild = self._command_id(name, type_, guild_id)
        data: Json = {"id": str(command_id), "name": name, "type": type_}
        if is_guild and guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    async def slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        attachments: Iterable[Json] = (),
        *,
        user: Json | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
        subcommand: str | None = None,
    ) -> FakeInteraction:
        """A user runs ``/name``. Option values map to Discord option types: str 3, bool 5,
        int 4, float 10, attachment object (has "filename") 11 via ``resolved.attachments``,
        user object (has "username") 6 via ``resolved.users``/``members``. ``attachments``
        adds further attachments to ``resolved`` only. The guild is the channel's guild
        (none for a DM channel)."""
        channel_id = channel_id or self.channel_id
        guild = self._guild_of(self._channel_or_404(channel_id))
        resolved: Json = {}
        built = [
            self._option(opt_name, value, resolved, guild)
            for opt_name, value in (options or {}).items()
        ]
        for attachment in attachments:
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        data = self._command_data(name, 1, guild.id if guild else None)
        if subcommand is not None:
            built = [{"type": 1, "name": subcommand, "options": built}]
        data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_APPLICATION_COMMAND, data, user=user, channel_id=channel_id, locale=locale
        )

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user: Json | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user types into option ``focused`` of ``/name`` (type 4; the typed value so far
        is ``options[focused]``, a string). The answer must be callback type 8."""
        channel_id = channel_id or self.channel_id
        guild = self._guild_of(self._channel_or_404(channel_id))
        resolved: Json = {}
        built = []
        for opt_name, value in options.items():
            option = self._option(opt_name, value, resolved, guild)
            if opt_name == focused:
                option["focused"] = True
            built.append(option)
        data = self._command_data(name, 1, guild.id if guild else None)
        data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_AUTOCOMPLETE, data, user=user, channel_id=channel_id, locale=locale
        )

    def _option(self, name: str, value: Any, resolved: Json, guild: FakeGuild | None) -> Json:
        if isinstance(value, bool):
            return {"name": name, "type": 5, "value": value}
        if isinstance(value, int):
            return {"name": name, "type": 4, "value": value}
        if isinstance(value, float):
            return {"name": name, "type": 10, "value": value}
        if isinstance(value, str):
            return {"name": name, "type": 3, "value": value}
        if isinstance(value, dict) and "filename" in value:
            resolved.setdefault("attachments", {})[value["id"]] = value
            return {"name": name, "type": 11, "value": value["id"]}
        if isinstance(value, dict) and "username" in value:
            resolved.setdefault("users", {})[value["id"]] = value
            if guild is not None:
                resolved.setdefault("members", {})[value["id"]] = self._partial_member(
                    guild, value
                )
            return {"name": name, "type": 6, "value": value["id"]}
        raise TypeError(f"unsupported option value for {name!r}: {value!r}")

    async def message_context_menu(
        self,
        name: str,
        target_message: Json,
        *,
        user: Json | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user picks Apps > ``name`` on ``target_message`` (type 2, data.type 3)."""
        stored = self._messages.get(int(target_message["id"]), target_message)
        channel_id = int(stored["channel_id"])
        guild = self._guild_of(self._channel_or_404(channel_id))
        data = self._command_data(name, 3, guild.id if guild else None)
        data["target_id"] = str(stored["id"])
        data["resolved"] = {"messages": {str(stored["id"]): nested(stored)}}
        return await self._interaction(
            INTERACTION_APPLICATION_COMMAND, data, user=user, channel_id=channel_id, locale=locale
        )

    async def press_button(
        self,
        message: Json,
        custom_id: str,
        *,
        user: Json | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user clicks a button (or picks select ``values``) on ``message``."""
        stored = self._messages.get(int(message["id"]), message)
        data: Json = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return await self._interaction(
            INTERACTION_COMPONENT,
            data,
            user=user,
            channel_id=int(stored["channel_id"]),
            locale=locale,
            message=nested(stored),
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, Any],
        *,
        user: Json | None = None,
        channel_id: int | None = None,
        message: Json | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user submits the modal ``custom_id`` with ``values`` by component custom_id.

        The submitted layout mirrors the modal the bot opened (callback type 9): action rows
        (type 1, ``components``) or labels (type 18, ``component``). Value kinds: text input
        ``str``; selects/checkbox groups ``list[str]``; checkbox ``bool``; radio ``str``;
        file upload ``list[attachment object]`` (goes to ``resolved.attachments``). Without a
        recorded modal, text inputs in action rows are sent.
        """
        opener = self._modal_opener(custom_id)
        layout: list[Json]
        if opener is not None and opener.modal is not None:
            layout = list(opener.modal.get("components", []))
            channel_id = channel_id or opener.channel_id
            if message is None and opener.type == INTERACTION_COMPONENT:
                message = opener.message
        else:
            layout = [{"type": 1, "components": [{"type": 4, "custom_id": key}]} for key in values]
        channel_id = channel_id or self.channel_id
        resolved: Json = {}
        counter = iter(range(1, 1000))
        remaining = dict(values)
        components = [self._submit_component(c, remaining, resolved, counter) for c in layout]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(remaining)}")
        data: Json = {"custom_id": custom_id, "components": components}
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_MODAL_SUBMIT,
            data,
            user=user,
            channel_id=channel_id,
            locale=locale,
            message=message,
        )

    def _modal_opener(self, custom_id: str) -> FakeInteraction | None:
        for inter in reversed(list(self.interactions.values())):
            modal = inter.modal
            if modal is not None and modal.get("custom_id") == custom_id:
                return inter
        return None

    def _submit_component(
        self, component: Json, remaining: dict[str, Any], resolved: Json, counter: Iterator[int]
    ) -> Json:
        ctype = int(component["type"])
        ident = int(component.get("id") or next(counter))
        if ctype == 1:
            inner = [
                self._submit_component(c, remaining, resolved, counter)
                for c in component.get("components", [])
            ]
            return {"type": 1, "id": ident, "components": inner}
        if ctype == 18:
            inner_one = self._submit_component(
                component["component"], remaining, resolved, counter
            )
            return {"type": 18, "id": ident, "component": inner_one}
        out: Json = {"type": ctype, "id": ident}
        cid = component.get("custom_id")
        if cid is None:
            return out
        out["custom_id"] = cid
        value = remaining.pop(cid, None)
        if ctype == 4:
            out["value"] = value if value is not None else component.get("value") or ""
        elif ctype == 19:
            files = list(value or [])
            for att in files:
                resolved.setdefault("attachments", {})[att["id"]] = att
            out["values"] = [att["id"] for att in files]
        elif ctype == 23:
            out["value"] = bool(value)
        elif ctype == 21:
            out["value"] = value
        else:  # selects (3, 5-8), checkbox group (22)
            out["values"] = list(value or [])
        return out

    async def _interaction(
        self,
        type_: int,
        data: Json,
        *,
        user: Json | None,
        channel_id: int,
        locale: str,
        message: Json | None = None,
    ) -> FakeInteraction:
        self._require_connection()
        user = self._user_ref(user)
        channel = self._channel_or_404(channel_id)
        guild = self._guild_of(channel)
        interaction_id = self.snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        channel_obj = copy.deepcopy(channel)
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "channel_id": str(channel_id),
            "channel": channel_obj,
        }
        if guild is not None:
            perms = guild.permissions_of(int(user["id"]))
            member = copy.deepcopy(self._member_for(guild, user))
            member["permissions"] = str(perms)
            channel_obj["permissions"] = str(perms)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member,
                app_permissions=str(guild.permissions_of(self.application_id)),
                attachment_size_limit=self._upload_limit(guild),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=user,
                app_permissions=str(EVERYONE_PERMISSIONS),
                attachment_size_limit=self._upload_limit(None),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if message is not None:
            payload["message"] = message
        record = FakeInteraction(
            id=interaction_id,
            token=token,
            type=type_,
            payload=payload,
            channel_id=channel_id,
            guild_id=guild.id if guild else None,
            created_monotonic=time.monotonic(),
        )
        self.interactions[token] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

"""The bot, its commands, chats and members: ``getMe``, ``*MyCommands``, ``getChat*``."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fakes.telegram.records import Call
from tests.fakes.telegram.wire import BOT_COMMAND_NAME_RE, JSONDict, as_int, bad_request
from tests.fakes.telegram.world import TelegramWorld


class ChatMethods(TelegramWorld):
    """Bot API methods about the bot itself, chats and their members."""

    def _get_me(self, call: Call) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @staticmethod
    def _scope_key(scope: Any) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True)

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not BOT_COMMAND_NAME_RE.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description is empty or too long")
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code", "")),
        )
        self.commands[key] = commands
        return True

    def _get_my_commands(self, call: Call) -> list[JSONDict]:
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code", "")),
        )
        return copy.deepcopy(self.commands.get(key, []))

    def _delete_my_commands(self, call: Call) -> bool:
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code", "")),
        )
        self.commands.pop(key, None)
        return True

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict] | None:
        """The commands the bot set for ``scope`` and ``language_code`` (None: never set)."""
        return self.commands.get((self._scope_key(scope), language_code))

    def _member_dict(self, chat_id: int, user_id: int) -> JSONDict:
        if user_id == self.bot_id:
            user: JSONDict = self.bot_user
        elif user_id in self._users:
            user = self._users[user_id].to_dict()
        else:
            raise bad_request("user not found")
        status = self._members.get((chat_id, user_id), "member")
        member: JSONDict = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_pin_messages": True,
                    "can_manage_topics": True,
                }
            )
        elif status == "restricted":
            member.update(
                {
                    "is_member": True,
                    "until_date": 0,
                    "can_edit_tag": False,
                    **{
                        key: False
                        for key in (
                            "can_change_info",
                            "can_invite_users",
                            "can_pin_messages",
                            "can_send_messages",
                            "can_send_polls",
                            "can_send_other_messages",
                            "can_add_web_page_previews",
                            "can_manage_topics",
                            "can_send_audios",
                            "can_send_documents",
                            "can_send_photos",
                            "can_send_videos",
                            "can_send_video_notes",
                            "can_send_voice_notes",
                        )
                    },
                }
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _get_chat_member(self, call: Call) -> JSONDict:
        chat = self._chat_param(call)
        user_id = as_int(call.params.get("user_id"))
        if user_id is None:
            raise bad_request("user_id is empty")
        return self._member_dict(chat.id, user_id)

    def _get_chat_administrators(self, call: Call) -> list[JSONDict]:
        chat = self._chat_param(call)
        return [
            self._member_dict(chat.id, user_id)
            for (chat_id, user_id), status in self._members.items()
            if chat_id == chat.id and status in ("creator", "administrator")
        ]

    def _get_chat(self, call: Call) -> JSONDict:
        chat = self._chat_param(call)
        return {
            **chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

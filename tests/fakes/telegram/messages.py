"""Messages the bot sends, edits and deletes, and its answers to button presses."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from tests.fakes.telegram.files import TelegramFiles, Upload
from tests.fakes.telegram.records import Call, FakeChat
from tests.fakes.telegram.wire import (
    CHAT_ACTIONS,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    NOT_MODIFIED,
    ApiError,
    JSONDict,
    as_int,
    auto_entities,
    bad_request,
    now,
    u16,
)

MEDIA_KINDS = ("photo", "document", "video", "animation", "audio")
# What editMessageMedia replaces: any earlier media, a text message's text, and the caption.
REPLACED_BY_MEDIA = (
    *MEDIA_KINDS,
    "text",
    "entities",
    "link_preview_options",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "has_media_spoiler",
)


class MessageMethods(TelegramFiles):
    """``send*``, ``edit*``, ``deleteMessage``, reactions, chat actions, callback answers."""

    def _resolve_bot_reply(self, chat: FakeChat, params: dict[str, Any]) -> JSONDict | None:
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            message_id = as_int(reply_parameters.get("message_id"))
            allow_without = bool(reply_parameters.get("allow_sending_without_reply"))
            target_chat_id = as_int(reply_parameters.get("chat_id")) or chat.id
        elif params.get("reply_to_message_id") is not None:
            message_id = as_int(params.get("reply_to_message_id"))
            allow_without = bool(params.get("allow_sending_without_reply"))
            target_chat_id = chat.id
        else:
            return None
        target = self._get_message(target_chat_id, message_id) if message_id is not None else None
        if target is None:
            if allow_without:
                return None
            raise bad_request("message to be replied not found")
        if isinstance(reply_parameters, dict) and reply_parameters.get("quote"):
            quoted = str(reply_parameters["quote"])
            if quoted not in (target.get("text") or target.get("caption") or ""):
                raise bad_request("QUOTE_TEXT_INVALID")
        return target

    def _bot_message(self, call: Call, content: JSONDict) -> JSONDict:
        return self._bot_messages(call, [content])[0]

    def _bot_messages(self, call: Call, contents: list[JSONDict]) -> list[JSONDict]:
        """Build, store and return one bot message per ``contents`` item; they share the chat,
        reply target, thread and reply markup of the call."""
        params = call.params
        chat = self._chat_param(call)
        reply_target = self._resolve_bot_reply(chat, params)
        thread_fields, reply_target = self._thread_fields(
            chat, as_int(params.get("message_thread_id")), reply_target, from_bot=True
        )
        quote: JSONDict | None = None
        reply_parameters = params.get("reply_parameters")
        if (
            reply_target is not None
            and isinstance(reply_parameters, dict)
            and reply_parameters.get("quote")
        ):
            quote = {
                "text": reply_parameters["quote"],
                "position": int(reply_parameters.get("quote_position") or 0),
                "is_manual": True,
            }
        markup = params.get("reply_markup")
        messages = []
        for content in contents:
            message: JSONDict = {
                "message_id": self._allocate_message_id(chat.id),
                "from": self.bot_user,
                "chat": chat.to_dict(),
                "date": now(),
                **thread_fields,
            }
            if reply_target is not None:
                message["reply_to_message"] = self._nested(reply_target)
            if quote is not None:
                message["quote"] = quote
            message.update(content)
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            if params.get("has_spoiler"):
                message["has_media_spoiler"] = True
            if params.get("protect_content"):
                message["has_protected_content"] = True
            self._store_message(message)
            self._bot_sent.setdefault(chat.id, []).append(message["message_id"])
            messages.append(message)
        return copy.deepcopy(messages)

    def _formatted(
        self, params: dict[str, Any], key: str, entities_key: str, limit: int
    ) -> JSONDict:
        """``text``/``caption`` with its entities: given ones, else detected commands/mentions."""
        raw = params.get(key)
        if raw is None:
            return {}
        if params.get("parse_mode"):
            # The bot sends plain text; a markup parser here would only test itself.
            raise bad_request("the fake does not model parse_mode (tests/fakes/telegram)")
        text = str(raw)
        given = params.get(entities_key)
        entities = given if isinstance(given, list) else auto_entities(text)
        if u16(text) > limit:
            if key == "caption":
                raise bad_request("message caption is too long")
            raise bad_request("message is too long")
        result: JSONDict = {key: text}
        if entities:
            result[entities_key] = entities
        return result

    def _send_message(self, call: Call) -> JSONDict:
        text = call.params.get("text")
        content = self._formatted(call.params, "text", "entities", MAX_TEXT_LENGTH)
        if text is None or not str(content.get("text", "")).strip():
            raise bad_request("message text is empty")
        return self._bot_message(call, content)

    def _send_photo(self, call: Call) -> JSONDict:
        caption = self._formatted(call.params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        photo = self._photo_content(self._input_bytes(call, "photo"))
        content = {"photo": photo, **caption}
        if call.params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return self._bot_message(call, content)

    def _send_document(self, call: Call) -> JSONDict:
        caption = self._formatted(call.params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        document = self._document_content(self._input_bytes(call, "document"))
        return self._bot_message(call, {"document": document, **caption})

    def _send_media_group(self, call: Call) -> list[JSONDict]:
        media = call.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("media must include 2-10 items")
        kinds = {item.get("type") for item in media}
        if "document" in kinds and kinds != {"document"}:
            raise bad_request("documents can't be mixed with other media types")
        parsed = [self._parse_input_media(call, item) for item in media]
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        self._chat_param(call)  # fail with "chat not found" before storing files
        self._resolve_bot_reply(self._chat_param(call), call.params)
        contents = [
            {"media_group_id": group_id, **self._media_content(kind, source), **fields}
            for kind, source, fields in parsed
        ]
        return self._bot_messages(call, contents)

    def _parse_input_media(self, call: Call, item: Any) -> tuple[str, Upload | str, JSONDict]:
        """An InputMedia checked as the Bot API parses it, before it looks at any message: its
        type, its file (upload or file id) and the other message fields it sets (caption,
        spoiler, caption position). Nothing is stored yet."""
        if not isinstance(item, dict):
            raise bad_request("can't parse input media JSON object")
        kind = item.get("type")
        if kind not in ("photo", "document"):
            if kind in ("video", "animation", "audio", "live_photo"):
                raise bad_request(f"unsupported media type {kind!r} in the fake")
            raise bad_request(f'can\'t parse InputMedia: type "{kind}" is unsupported')
        ref = item.get("media")
        source = self._file_ref(call, ref) if isinstance(ref, str) and ref else None
        if source is None:
            raise bad_request("can't parse InputMedia: media not found")
        fields = self._formatted(item, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        # InputMediaDocument has neither option; the server ignores them for documents.
        if kind == "photo" and item.get("has_spoiler"):
            fields["has_media_spoiler"] = True
        if kind == "photo" and item.get("show_caption_above_media"):
            fields["show_caption_above_media"] = True
        return kind, source, fields

    def _media_content(self, kind: str, source: Upload | str) -> JSONDict:
        """The message's ``photo`` sizes or ``document``, stored as sendPhoto/sendDocument do."""
        if kind == "photo":
            return {"photo": self._photo_content(source)}
        return {"document": self._document_content(source)}

    def _send_chat_action(self, call: Call) -> bool:
        chat = self._chat_param(call)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        thread = as_int(call.params.get("message_thread_id"))
        if chat.is_forum and thread is not None and (chat.id, thread) not in self._topics:
            raise bad_request("message thread not found")
        return True

    def _editable(self, call: Call, refusal: str = "message can't be edited") -> JSONDict:
        """The stored message an edit targets; ``refusal`` is the server's text when it is not
        the bot's (editMessageMedia says "message media can't be edited")."""
        if call.params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the fake")
        chat = self._chat_param(call)
        message_id = as_int(call.params.get("message_id"))
        message = self._get_message(chat.id, message_id) if message_id is not None else None
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad_request(refusal)
        return message

    @staticmethod
    def _apply_edit(
        message: JSONDict, changes: JSONDict, drop: Iterable[str], markup: Any
    ) -> JSONDict:
        """Edit in place like Telegram (the markup is replaced, or removed when not given)."""
        new = copy.deepcopy(message)
        for key in drop:
            new.pop(key, None)
        new.update(changes)
        new.pop("reply_markup", None)
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        unchanged = {k: v for k, v in new.items() if k != "edit_date"} == {
            k: v for k, v in message.items() if k != "edit_date"
        }
        if unchanged:
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = now()
        message.clear()
        message.update(new)
        return copy.deepcopy(message)

    def _edit_message_text(self, call: Call) -> JSONDict:
        message = self._editable(call)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        content = self._formatted(call.params, "text", "entities", MAX_TEXT_LENGTH)
        if not str(content.get("text", "")).strip():
            raise bad_request("message text is empty")
        return self._apply_edit(message, content, ("entities",), call.params.get("reply_markup"))

    def _edit_message_caption(self, call: Call) -> JSONDict:
        message = self._editable(call)
        if not any(k in message for k in MEDIA_KINDS):
            raise bad_request("there is no caption in the message to edit")
        content = self._formatted(call.params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        return self._apply_edit(
            message, content, ("caption", "caption_entities"), call.params.get("reply_markup")
        )

    def _edit_message_media(self, call: Call) -> JSONDict:
        """Replace a bot message's photo/document (or add one to a text message, as the Bot API
        allows since 7.11) with the InputMedia in ``media``: the old media, text and caption go,
        the new caption (or none) and ``reply_markup`` (or none) come from this call."""
        if call.params.get("media") is None:
            raise bad_request('parameter "media" is required')
        # The server parses the InputMedia (and its attach:// part) before finding the message.
        kind, source, fields = self._parse_input_media(call, call.params["media"])
        refusal = "message media can't be edited"
        message = self._editable(call, refusal)
        old_kind = next((key for key in MEDIA_KINDS if key in message), None)
        if old_kind is None and "text" not in message:
            raise bad_request(refusal)  # stickers, polls, service messages, ...
        # Albums keep their type (photo<->video aside, which the fake does not model).
        if message.get("media_group_id") and old_kind != kind:
            raise bad_request("can't change media type in the album")
        content = {**self._media_content(kind, source), **fields}
        markup = call.params.get("reply_markup")
        return self._apply_edit(message, content, REPLACED_BY_MEDIA, markup)

    def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        message = self._editable(call)
        return self._apply_edit(message, {}, (), call.params.get("reply_markup"))

    def _delete_message(self, call: Call) -> bool:
        chat = self._chat_param(call)
        message_id = as_int(call.params.get("message_id"))
        if message_id is None or self._get_message(chat.id, message_id) is None:
            raise bad_request("message to delete not found")
        self._deleted.add((chat.id, message_id))
        return True

    def _set_message_reaction(self, call: Call) -> bool:
        chat = self._chat_param(call)
        message_id = as_int(call.params.get("message_id"))
        if message_id is None or self._get_message(chat.id, message_id) is None:
            raise bad_request("message to react not found")
        return True

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id", ""))
        if query_id not in self._callback_queries or query_id in self.answered_callback_queries:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = call.params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self.answered_callback_queries[query_id] = dict(call.params)
        return True

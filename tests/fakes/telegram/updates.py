"""Incoming updates: what users do (messages, albums, GIFs, edits, button presses, topics)."""

from __future__ import annotations

import copy
import hashlib
import io

from PIL import Image

from tests.fakes.telegram.files import FAKE_MP4, TelegramFiles
from tests.fakes.telegram.records import FakeChat, FakeUser
from tests.fakes.telegram.wire import FORUM_ICON_COLOR, JSONDict, auto_entities, now


class IncomingUpdates(TelegramFiles):
    """Test helpers that build updates the way Telegram does and queue them for the bot."""

    def create_forum_topic(
        self,
        chat: FakeChat,
        user: FakeUser,
        name: str,
        *,
        icon_color: int = FORUM_ICON_COLOR,
    ) -> tuple[int, JSONDict]:
        """A user creates a topic: returns ``(message_thread_id, forum_topic_created message)``.
        The service message is queued as an update (service messages pass privacy mode)."""
        if not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum")
        message_id = self._allocate_message_id(chat.id)
        message: JSONDict = {
            "message_id": message_id,
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": now(),
            "message_thread_id": message_id,
            "forum_topic_created": {"name": name, "icon_color": icon_color},
            "is_topic_message": True,
        }
        self._store_message(message)
        self._topics[(chat.id, message_id)] = message
        self.queue_update({"message": message})
        return message_id, copy.deepcopy(message)

    def send_user_message(
        self,
        chat: FakeChat,
        user: FakeUser,
        *,
        text: str | None = None,
        photo: bytes | None = None,
        document: bytes | None = None,
        document_mime: str = "image/png",
        document_name: str = "image.png",
        document_size_override: int | None = None,
        caption: str | None = None,
        reply_to: JSONDict | int | None = None,
        media_group_id: str | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        entities: list[JSONDict] | None = None,
        deliver: bool | None = None,
    ) -> JSONDict:
        """A user sends a message; returns the Message dict as the bot will receive it.

        ``photo`` becomes three PhotoSize entries (real dimensions via Pillow); ``document``
        becomes a Document (``document_size_override`` declares a size, e.g. > 20 MB, without
        storing that many bytes). ``entities``/``caption_entities`` are filled in for /commands
        and @mentions unless given. ``reply_to`` (a message dict or id in this chat) becomes a
        one-level ``reply_to_message``. In a forum, ``message_thread_id`` of a topic makes it a
        topic message whose ``reply_to_message`` is the topic's service message (unless it
        replies to something else). In groups with ``privacy_mode`` the update is only queued
        when the bot would see it (command, @mention, reply to the bot, bot is admin);
        ``deliver`` forces it either way. The message is stored either way.
        """
        self._users.setdefault(user.id, user)
        self._chats.setdefault(chat.id, chat)
        reply_target = self._resolve_user_reply(chat, reply_to)
        thread_fields, reply_target = self._thread_fields(
            chat, message_thread_id, reply_target, from_bot=False
        )
        if is_topic_message is not None:
            if is_topic_message:
                thread_fields["is_topic_message"] = True
            else:
                thread_fields.pop("is_topic_message", None)

        message: JSONDict = {
            "message_id": self._allocate_message_id(chat.id),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": now(),
            **thread_fields,
        }
        if reply_target is not None:
            message["reply_to_message"] = self._nested(reply_target)
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        if photo is not None:
            message["photo"] = self._store_photo(photo)
        if document is not None:
            message["document"] = self._store_document(
                document, document_name, document_mime, document_size_override
            )
        body_key, entities_key = (
            ("caption", "caption_entities")
            if photo is not None or document is not None
            else ("text", "entities")
        )
        body = caption if body_key == "caption" else text
        if body_key == "caption" and text is not None:
            raise ValueError("a media message has a caption, not text")
        if body is not None:
            message[body_key] = body
            found = entities if entities is not None else auto_entities(body)
            if found:
                message[entities_key] = found
        elif photo is None and document is None:
            raise ValueError("send_user_message needs text, photo or document")

        self._store_message(message)
        if deliver is None:
            deliver = self._bot_receives(chat, message)
        if deliver:
            self.queue_update({"message": message})
        return copy.deepcopy(message)

    def send_album(
        self,
        chat: FakeChat,
        user: FakeUser,
        photos: list[bytes],
        caption: str | None = None,
        caption_index: int = 0,
        *,
        reply_to: JSONDict | int | None = None,
        message_thread_id: int | None = None,
        as_documents: bool = False,
        document_mime: str = "image/png",
        deliver: bool | None = None,
    ) -> list[JSONDict]:
        """A user sends an album: one update per item, all sharing a ``media_group_id``, the
        caption on item ``caption_index`` only (as Telegram clients do). With ``privacy_mode`` in
        a group the privacy rule is applied per item, so uncaptioned siblings of a ``/command``
        caption are not delivered (reported by bot authors, not verified against Telegram; use
        ``deliver=True`` to deliver all)."""
        if not 2 <= len(photos) <= 10:
            raise ValueError("albums hold 2-10 items")
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        messages = []
        for index, data in enumerate(photos):
            item_caption = caption if index == caption_index else None
            if as_documents:
                messages.append(
                    self.send_user_message(
                        chat,
                        user,
                        document=data,
                        document_mime=document_mime,
                        document_name=f"image_{index + 1}.{document_mime.rpartition('/')[2]}",
                        caption=item_caption,
                        reply_to=reply_to,
                        media_group_id=group_id,
                        message_thread_id=message_thread_id,
                        deliver=deliver,
                    )
                )
            else:
                messages.append(
                    self.send_user_message(
                        chat,
                        user,
                        photo=data,
                        caption=item_caption,
                        reply_to=reply_to,
                        media_group_id=group_id,
                        message_thread_id=message_thread_id,
                        deliver=deliver,
                    )
                )
        return messages

    def send_animation(
        self,
        chat: FakeChat,
        user: FakeUser,
        *,
        thumbnail: bytes | None,
        caption: str | None = None,
        reply_to: JSONDict | int | None = None,
        file_name: str = "funny.gif.mp4",
        deliver: bool | None = None,
    ) -> JSONDict:
        """A user sends a GIF. Telegram converts it to a silent MP4 and delivers an
        ``animation`` plus, for backward compatibility, a ``document`` with the same file
        (``video/mp4``); both carry the JPEG ``thumbnail`` (and its legacy twin ``thumb``)
        when Telegram made one. ``thumbnail=None`` sends an animation without a still."""
        self._users.setdefault(user.id, user)
        self._chats.setdefault(chat.id, chat)
        clip = self._new_file(FAKE_MP4, "animations", "mp4", "CgAC")
        width, height = 480, 270
        fields: JSONDict = {
            "file_name": file_name,
            "mime_type": "video/mp4",
            "file_id": clip.file_id,
            "file_unique_id": clip.file_unique_id,
            "file_size": clip.file_size,
        }
        if thumbnail is not None:
            with Image.open(io.BytesIO(thumbnail)) as image:
                thumb_w, thumb_h = image.size
            still = self._new_file(thumbnail, "thumbnails", "jpg", "AAMC")
            size = {
                "file_id": still.file_id,
                "file_unique_id": still.file_unique_id,
                "file_size": still.file_size,
                "width": thumb_w,
                "height": thumb_h,
            }
            fields["thumbnail"] = size
            fields["thumb"] = copy.deepcopy(size)
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat.id),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": now(),
            "animation": {"duration": 2, "width": width, "height": height, **fields},
            "document": copy.deepcopy(fields),
        }
        reply_target = self._resolve_user_reply(chat, reply_to)
        if reply_target is not None:
            message["reply_to_message"] = self._nested(reply_target)
        if caption is not None:
            message["caption"] = caption
            if found := auto_entities(caption):
                message["caption_entities"] = found
        self._store_message(message)
        if deliver is None:
            deliver = self._bot_receives(chat, message)
        if deliver:
            self.queue_update({"message": message})
        return copy.deepcopy(message)

    def edit_user_message(
        self,
        chat: FakeChat,
        message_id: int,
        *,
        text: str | None = None,
        caption: str | None = None,
    ) -> JSONDict:
        """A user edits a message: queues an ``edited_message`` update."""
        stored = self._get_message(chat.id, message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat.id}")
        if text is not None:
            stored["text"] = text
            stored.pop("entities", None)
            if found := auto_entities(text):
                stored["entities"] = found
        if caption is not None:
            stored["caption"] = caption
            stored.pop("caption_entities", None)
            if found := auto_entities(caption):
                stored["caption_entities"] = found
        stored["edit_date"] = now()
        if self._bot_receives(chat, stored):
            self.queue_update({"edited_message": stored})
        return copy.deepcopy(stored)

    def press_button(
        self, chat: FakeChat, user: FakeUser, message: JSONDict, callback_data: str
    ) -> JSONDict:
        """A user presses an inline button of ``message`` (a bot message). The button must exist
        in the message's current inline keyboard. Queues and returns the callback_query update."""
        stored = self._get_message(chat.id, int(message["message_id"]))
        if stored is None:
            raise KeyError(f"message {message['message_id']} in chat {chat.id} does not exist")
        keyboard = (stored.get("reply_markup") or {}).get("inline_keyboard", [])
        datas = [button.get("callback_data") for row in keyboard for button in row]
        if callback_data not in datas:
            raise ValueError(
                f"message {stored['message_id']} has no button with callback_data "
                f"{callback_data!r}; buttons: {datas}"
            )
        query_id = str(4_000_000_000_000_000_000 + next(self._ids))
        query: JSONDict = {
            "id": query_id,
            "from": user.to_dict(),
            "message": copy.deepcopy(stored),
            "chat_instance": str(int(hashlib.sha1(str(chat.id).encode()).hexdigest()[:15], 16)),
            "data": callback_data,
        }
        self._callback_queries[query_id] = query
        return self.queue_update({"callback_query": query})

    def seed_bot_message(
        self,
        chat: FakeChat,
        *,
        text: str | None = None,
        photo: bytes | None = None,
        document: bytes | None = None,
        document_mime: str = "image/png",
        document_name: str = "image.png",
        caption: str | None = None,
        reply_to: JSONDict | int | None = None,
        message_thread_id: int | None = None,
        reply_markup: JSONDict | None = None,
    ) -> JSONDict:
        """Store a message as if the bot had sent it earlier (e.g. before a restart), without a
        running bot and without an API call. It shows up in ``sent_messages``."""
        self._chats.setdefault(chat.id, chat)
        reply_target = self._resolve_user_reply(chat, reply_to)
        thread_fields, reply_target = self._thread_fields(
            chat, message_thread_id, reply_target, from_bot=False
        )
        content: JSONDict = {}
        if photo is not None:
            content["photo"] = self._store_photo(photo)
        if document is not None:
            content["document"] = self._store_document(
                document, document_name, document_mime, None
            )
        body = caption if content else text
        if body is not None:
            content["caption" if content else "text"] = body
        if not content:
            raise ValueError("seed_bot_message needs text, photo or document")
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat.id),
            "from": self.bot_user,
            "chat": chat.to_dict(),
            "date": now(),
            **thread_fields,
        }
        if reply_target is not None:
            message["reply_to_message"] = self._nested(reply_target)
        message.update(content)
        if reply_markup is not None:
            message["reply_markup"] = reply_markup
        self._store_message(message)
        self._bot_sent.setdefault(chat.id, []).append(message["message_id"])
        return copy.deepcopy(message)

    def delete_user_message(self, chat: FakeChat | int, message_id: int) -> None:
        """Simulate a deleted message (replies to it then fail like on Telegram)."""
        self._deleted.add((self._chat_id(chat), message_id))

    def queue_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw update (``update_id`` is assigned). Updates of types excluded by the
        bot's ``allowed_updates`` are dropped, as on Telegram."""
        update = copy.deepcopy(update)
        kind = next((key for key in update if key != "update_id"), None)
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        if kind in self._allowed_updates:
            self._updates.append(update)
            self._log.changed()
        return copy.deepcopy(update)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset (or webhook delivery)."""
        return copy.deepcopy(self._updates)

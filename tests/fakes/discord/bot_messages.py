"""Messages the bot creates and edits (shared by REST and interaction responses), echoed."""

from __future__ import annotations

from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.protocol import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    ApiError,
    Json,
    check_content,
    form_error,
    nested,
    now_iso,
    with_component_ids,
)
from tests.fakes.discord.records import Call, FakeGuild, Upload


class BotMessages(Gateway):
    """Build, store, edit and echo the bot's messages like Discord."""

    def _new_bot_message(
        self,
        channel: Json,
        payload: Json,
        uploads: list[Upload],
        guild: FakeGuild | None,
        *,
        message_type: int = 0,
    ) -> Json:
        attachments = self._attachments_from(payload, uploads, int(channel["id"]), [], guild)
        content = str(payload.get("content") or "")
        check_content(content)
        has_body = (
            content
            or attachments
            or payload.get("embeds")
            or payload.get("components")
            or payload.get("sticker_ids")
            or payload.get("poll")
        )
        if not has_body:
            raise ApiError(400, 50006, "Cannot send an empty message")
        msg: Json = {
            "id": str(self.snowflake()),
            "channel_id": channel["id"],
            "author": dict(self.bot_user),
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": list(payload.get("embeds") or []),
            "components": with_component_ids(payload.get("components") or []),
            "pinned": False,
            "type": message_type,
            "flags": int(payload.get("flags") or 0),
        }
        if "nonce" in payload:
            msg["nonce"] = payload["nonce"]
        if guild is not None:
            msg["guild_id"] = str(guild.id)
        return msg

    def _attachments_from(
        self,
        payload: Json,
        uploads: list[Upload],
        channel_id: int,
        current: list[Json],
        guild: FakeGuild | None,
    ) -> list[Json]:
        limit = self._upload_limit(guild)
        if sum(len(u.data) for u in uploads) > limit:
            raise ApiError(413, 40005, "Request entity too large")
        by_part = {u.part: u for u in uploads}
        current_by_id = {str(a["id"]): a for a in current}
        out: list[Json] = []
        listed = payload.get("attachments")
        if listed is None:
            listed = [{"id": i} for i in range(len(uploads))]
            keep = list(current)
        else:
            keep = []
        out.extend(keep)
        for item in listed:
            ident = str(item.get("id"))
            if ident in current_by_id:
                out.append(current_by_id[ident])
                continue
            upload = by_part.get(f"files[{ident}]")
            if upload is None:
                raise form_error(
                    "attachments", "ATTACHMENT_NOT_FOUND", f"Attachment {ident} not found"
                )
            filename = str(item.get("filename") or upload.filename)
            out.append(
                self._store_attachment(
                    upload.data,
                    filename,
                    upload.content_type,
                    channel_id,
                    item.get("description"),
                )
            )
        return out

    def _apply_reference(
        self, msg: Json, payload: Json, channel: Json, guild: FakeGuild | None
    ) -> None:
        ref = dict(payload["message_reference"])
        ref_type = int(ref.get("type", 0))
        referenced = self._messages.get(int(ref["message_id"]))
        if referenced is None:
            if ref.get("fail_if_not_exists", True):
                raise form_error(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return
        ref.setdefault("channel_id", referenced["channel_id"])
        ref["message_id"] = str(ref["message_id"])
        ref["channel_id"] = str(ref["channel_id"])
        if guild is not None:
            ref["guild_id"] = str(guild.id)
        ref.pop("fail_if_not_exists", None)
        ref["type"] = ref_type
        msg["message_reference"] = ref
        msg["referenced_message"] = nested(referenced)
        if ref_type == 0:
            msg["type"] = 19
            allowed = payload.get("allowed_mentions") or {}
            if (
                allowed.get("replied_user", True)
                and referenced["author"]["id"] != msg["author"]["id"]
            ):
                msg["mentions"].append(dict(referenced["author"]))

    def _edit_message(self, msg: Json, call: Call) -> None:
        payload: Json = call.json if isinstance(call.json, dict) else {}
        channel = self._channels.get(int(msg["channel_id"]))
        guild = self._guild_of(channel) if channel else None
        if "content" in payload:
            content = str(payload["content"] or "")
            check_content(content)
            msg["content"] = content
        if "embeds" in payload:
            msg["embeds"] = list(payload["embeds"] or [])
        if "components" in payload:
            msg["components"] = with_component_ids(payload["components"] or [])
        if "attachments" in payload or call.uploads:
            msg["attachments"] = self._attachments_from(
                payload, call.uploads, int(msg["channel_id"]), msg["attachments"], guild
            )
        if "flags" in payload and payload["flags"] is not None:
            keep = int(msg.get("flags", 0)) & FLAG_EPHEMERAL
            msg["flags"] = int(payload["flags"]) | keep
        msg["flags"] = int(msg.get("flags", 0)) & ~FLAG_LOADING
        msg["edited_timestamp"] = now_iso()

    async def _echo(self, event: str, msg: Json) -> None:
        if not self.echo_own_messages or int(msg.get("flags", 0)) & FLAG_EPHEMERAL:
            return
        if event == "MESSAGE_DELETE":
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in msg:
                data["guild_id"] = msg["guild_id"]
            await self.dispatch(event, data)
        else:
            await self.dispatch(event, msg)

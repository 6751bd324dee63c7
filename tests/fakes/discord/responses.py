"""The bot's answers to interactions: callbacks, follow-ups, and edits through the webhook."""

from __future__ import annotations

import time

from aiohttp import web

from tests.fakes.discord.bot_messages import BotMessages
from tests.fakes.discord.protocol import (
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE_MESSAGE,
    CALLBACK_MODAL,
    CALLBACK_PONG,
    CALLBACK_UPDATE_MESSAGE,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_COMPONENT,
    INTERACTION_MODAL_SUBMIT,
    ApiError,
    Json,
    bucket_of,
    form_error,
    json_response,
    no_content,
)
from tests.fakes.discord.records import FakeInteraction, Upload, call_of, sub_call


class InteractionResponses(BotMessages):
    """``POST /interactions/{id}/{token}/callback`` and ``/webhooks/{app}/{token}...``."""

    def _interaction_or_404(self, token: str, *, code: int, message: str) -> FakeInteraction:
        record = self.interactions.get(token)
        if record is None or record.expired:
            raise ApiError(404, code, message)
        return record

    def _interaction_message_type(self, record: FakeInteraction) -> int:
        if record.type == INTERACTION_APPLICATION_COMMAND:
            return 23 if int(record.payload["data"].get("type", 1)) != 1 else 20
        return 0

    def _interaction_metadata(self, record: FakeInteraction) -> Json:
        user = record.payload.get("user") or record.payload["member"]["user"]
        meta: Json = {
            "id": str(record.id),
            "type": record.type,
            "user": user,
            "authorizing_integration_owners": record.payload["authorizing_integration_owners"],
        }
        if record.type == INTERACTION_APPLICATION_COMMAND:
            meta["name"] = record.payload["data"]["name"]
            meta["command_type"] = int(record.payload["data"].get("type", 1))
        if record.type == INTERACTION_COMPONENT and record.message is not None:
            meta["interacted_message_id"] = record.message["id"]
        return meta

    def _interaction_message(
        self, record: FakeInteraction, payload: Json, uploads: list[Upload]
    ) -> Json:
        channel = self._channel_or_404(record.channel_id)
        guild = self._guild_of(channel)
        msg = self._new_bot_message(
            channel,
            payload,
            uploads,
            guild,
            message_type=self._interaction_message_type(record),
        )
        msg["webhook_id"] = str(self.application_id)
        msg["application_id"] = str(self.application_id)
        msg["interaction_metadata"] = self._interaction_metadata(record)
        return msg

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        call = call_of(request)
        record = self.interactions.get(request.match_info["token"])
        if (
            record is None
            or record.expired
            or int(request.match_info["iid"]) != record.id
            or (
                self.interaction_deadline is not None
                and time.monotonic() - record.created_monotonic > self.interaction_deadline
            )
        ):
            raise ApiError(404, 10062, "Unknown interaction")
        if record.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body: Json = call.json if isinstance(call.json, dict) else {}
        type_ = int(body.get("type", 0))
        data: Json = body.get("data") or {}
        resource: Json | None = None
        if (record.type == INTERACTION_AUTOCOMPLETE) != (type_ == CALLBACK_AUTOCOMPLETE_RESULT):
            # Autocomplete takes only choices (type 8), and choices fit nothing else.
            raise form_error(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Response type {type_} is not valid for interaction type {record.type}",
            )
        if type_ == CALLBACK_CHANNEL_MESSAGE:
            msg = self._interaction_message(record, data, call.uploads)
            record.original = msg
            self._store_message(msg)
            await self._echo("MESSAGE_CREATE", msg)
            resource = {"type": type_, "message": msg}
        elif type_ == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            channel = self._channel_or_404(record.channel_id)
            msg = self._new_bot_message(
                channel,
                {"content": "\u200b"},
                [],
                self._guild_of(channel),
                message_type=self._interaction_message_type(record),
            )
            msg.update(
                content="",
                flags=FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL),
                webhook_id=str(self.application_id),
                application_id=str(self.application_id),
                interaction_metadata=self._interaction_metadata(record),
            )
            record.original = msg
            self._store_message(msg)
            await self._echo("MESSAGE_CREATE", msg)
            resource = {"type": type_, "message": msg}
        elif type_ in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            if record.type not in (INTERACTION_COMPONENT, INTERACTION_MODAL_SUBMIT) or (
                record.message is None
            ):
                raise ApiError(400, 40004, "Interaction callback type not valid here")
            target = self._messages.get(int(record.message["id"]))
            if target is None:
                raise ApiError(404, 10008, "Unknown Message")
            record.original = target
            if type_ == CALLBACK_UPDATE_MESSAGE:
                self._edit_message(target, sub_call(call, data))
                await self._echo("MESSAGE_UPDATE", target)
                resource = {"type": type_, "message": target}
        elif type_ == CALLBACK_MODAL:
            if record.type == INTERACTION_MODAL_SUBMIT:
                raise ApiError(400, 40004, "Interaction callback type not valid here")
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
        elif type_ not in (CALLBACK_PONG, CALLBACK_AUTOCOMPLETE_RESULT, 10, 12):
            raise form_error("type", "BASE_TYPE_CHOICES", f"Value must be one of ... got {type_}")
        record.callbacks.append({"type": type_, "data": data, "files": call.files})

        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return no_content()
        interaction: Json = {"id": str(record.id), "type": record.type}
        if resource is not None and "message" in resource:
            original = resource["message"]
            interaction["response_message_id"] = original["id"]
            interaction["response_message_loading"] = bool(int(original["flags"]) & FLAG_LOADING)
            interaction["response_message_ephemeral"] = bool(
                int(original["flags"]) & FLAG_EPHEMERAL
            )
        answer: Json = {"interaction": interaction}
        if resource is not None:
            answer["resource"] = resource
        return json_response(answer)

    def _webhook_record(self, request: web.Request) -> FakeInteraction:
        if int(request.match_info["app"]) != self.application_id:
            raise ApiError(404, 10015, "Unknown Webhook")
        return self._interaction_or_404(
            request.match_info["token"], code=10015, message="Unknown Webhook"
        )

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        call = call_of(request)
        record = self._webhook_record(request)
        if not record.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        payload: Json = call.json if isinstance(call.json, dict) else {}
        original = record.original
        if (
            self.followup_fills_deferred
            and original is not None
            and int(original.get("flags", 0)) & FLAG_LOADING
        ):
            self._edit_message(original, call)
            if payload.get("flags") is not None:
                original["flags"] = (
                    int(payload["flags"]) | int(original["flags"])
                ) & ~FLAG_LOADING
            msg = original
            await self._echo("MESSAGE_UPDATE", msg)
        else:
            msg = self._interaction_message(record, payload, call.uploads)
            if "thread_id" in request.query:
                msg["channel_id"] = str(self._channel_or_404(request.query["thread_id"])["id"])
            self._store_message(msg)
            await self._echo("MESSAGE_CREATE", msg)
        record.followups.append(msg)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(msg, bucket=bucket_of(request))
        return no_content(bucket_of(request))

    def _webhook_message(self, request: web.Request, record: FakeInteraction) -> Json:
        mid = request.match_info["mid"]
        if mid == "@original":
            if record.original is None or int(record.original["id"]) not in self._messages:
                raise ApiError(404, 10008, "Unknown Message")
            return record.original
        msg = self._messages.get(int(mid))
        if msg is None or msg.get("webhook_id") != str(self.application_id):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def _webhook_get(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        return json_response(self._webhook_message(request, record), bucket=bucket_of(request))

    async def _webhook_patch(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        msg = self._webhook_message(request, record)
        self._edit_message(msg, call_of(request))
        await self._echo("MESSAGE_UPDATE", msg)
        return json_response(msg, bucket=bucket_of(request))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        msg = self._webhook_message(request, record)
        del self._messages[int(msg["id"])]
        await self._echo("MESSAGE_DELETE", msg)
        return no_content(bucket_of(request))

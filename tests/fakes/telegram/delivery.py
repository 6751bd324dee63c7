"""Update delivery: ``getUpdates`` long polling and webhooks (set, inspect, deliver)."""

from __future__ import annotations

import copy
import json
import time

from aiohttp import ClientSession, ClientTimeout

from tests.fakes.telegram.records import Call, WebhookDelivery
from tests.fakes.telegram.wire import (
    CONFLICT_GETUPDATES,
    CONFLICT_WEBHOOK,
    DEFAULT_ALLOWED_UPDATES,
    ApiError,
    JSONDict,
    as_int,
)
from tests.fakes.telegram.world import TelegramWorld


class UpdateDelivery(TelegramWorld):
    """Hands queued updates to the bot, by long poll or by webhook, like Telegram."""

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        params = call.params
        self._poll_generation += 1
        generation = self._poll_generation
        self._log.changed()  # terminates an older pending long poll (409 like Telegram)

        offset = as_int(params.get("offset"))
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = as_int(params.get("limit")) or 100
        limit = max(1, min(limit, 100))
        timeout = params.get("timeout") or 0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES

        def ready() -> bool:
            return bool(self._closing or generation != self._poll_generation or self._updates)

        await self._log.wait_until(ready, float(timeout))
        if generation != self._poll_generation and not self._closing:
            raise ApiError(409, CONFLICT_GETUPDATES)
        if self._closing:
            return []
        batch = copy.deepcopy(self._updates[:limit])
        for update in batch:
            if update["update_id"] not in self.delivered_update_ids:
                self.delivered_update_ids.append(update["update_id"])
        return batch

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        self.webhook_secret_token = None
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, call: Call) -> bool:
        url = call.params.get("url", "")
        self.webhook_url = str(url)
        self.webhook_secret_token = call.params.get("secret_token")
        allowed = call.params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self._log.changed()
        return True

    def _get_webhook_info(self, call: Call) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = self.host
        failures = [d for d in self.webhook_deliveries if d.error is not None]
        if failures:
            info["last_error_date"] = int(failures[-1].time)
            info["last_error_message"] = failures[-1].error
        return info

    async def _deliver_webhooks(self) -> None:
        """While a webhook is set, POST queued updates to it in order (like Telegram)."""
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while not self._closing:
                await self._log.wait_until(
                    lambda: self._closing or bool(self.webhook_url and self._updates), 3600
                )
                if self._closing:
                    return
                url, update = self.webhook_url, self._updates[0]
                headers = {"Content-Type": "application/json"}
                if self.webhook_secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret_token
                status: int | None = None
                error: str | None = None
                try:
                    async with session.post(
                        url, data=json.dumps(update), headers=headers
                    ) as response:
                        await response.read()
                        status = response.status
                        if not 200 <= status < 300:
                            error = f"Wrong response from the webhook: {status} {response.reason}"
                except (OSError, TimeoutError) as exc:  # aiohttp.ClientError is an OSError
                    error = f"Connection failed: {exc}"
                self.webhook_deliveries.append(
                    WebhookDelivery(update["update_id"], status, error, time.time())
                )
                if error is None:
                    if self._updates and self._updates[0]["update_id"] == update["update_id"]:
                        self._updates.pop(0)
                    self.delivered_update_ids.append(update["update_id"])
                    self._log.changed()
                else:
                    self._log.changed()
                    # Telegram retries later; back off a little to avoid a hot loop.
                    await self._log.wait_until(lambda: self._closing, 0.2)

    async def post_update_to(
        self, url: str, update: JSONDict, secret_token: str | None = None
    ) -> int:
        """POST an update to a webhook endpoint the way Telegram does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            ClientSession(timeout=ClientTimeout(total=10)) as session,
            session.post(url, data=json.dumps(update), headers=headers) as response,
        ):
            await response.read()
            return response.status

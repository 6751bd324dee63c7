"""Daily image quotas and in-flight limits: reserve before any work, charge only successes.

A step holds one image (and its estimated cost) before anything is downloaded. The usage
ledger is written with the model turn, so a success is charged by the ledger and a failure
simply never is; either way the hold is released when the step ends. Counting holds keeps
concurrent steps of one user from overshooting the limit together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from bot.config import LimitSettings
from bot.coordination import Hold, Holdings
from bot.errors import BotError
from bot.limits import AccessPolicy
from bot.request import Author, ChatKey
from bot.store import Store


class QuotaExceeded(BotError):
    """A daily limit or the in-flight limit is reached."""

    def __init__(
        self,
        scope: str,
        limit: int,
        resets_at: datetime,
        *,
        wanted: int = 1,
        left: int = 0,
        budget: float = 0.0,
    ) -> None:
        super().__init__(f"{scope} quota of {limit or budget} reached")
        self.scope = scope  # "user" | "chat" | "inflight" | "cost_user" | "cost_chat"
        self.budget = budget  # the daily USD budget, for the cost scopes
        self.limit = limit
        self.resets_at = resets_at
        self.wanted = wanted  # images the step asked for (Variations ask for several)
        self.left = left  # images left today, when fewer than wanted but some


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """What is used and left today; limits of 0 mean unlimited."""

    user_used: int
    user_limit: int
    pool_used: int
    pool_limit: int
    tokens_today: int
    resets_at: datetime
    exempt: bool
    cost_today: float = 0.0  # estimated USD, the user's
    pool_cost_today: float = 0.0


def day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Start of today and of tomorrow, in UTC."""
    now = now or datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


class Quotas:
    """Checks and holds per-user and per-pool daily images and in-flight requests.

    The holds are rows in the store (`Coordination.hold`), checked and taken in one atomic
    step, so concurrent steps of one user never overshoot a limit together, on one instance
    or on several sharing a database.
    """

    def __init__(self, settings: LimitSettings, store: Store, access: AccessPolicy) -> None:
        self._settings = settings
        self._store = store
        self._access = access

    async def status(self, chat: ChatKey, author: Author) -> QuotaStatus:
        """Today's usage and limits for `author` in `chat`."""
        start, end = day_bounds()
        user = await self._store.usage_since(chat.platform, author.user_id, start.timestamp())
        pool = await self._store.pool_usage_since(chat.platform, chat.pool, start.timestamp())
        return QuotaStatus(
            user.images,
            self._settings.daily_images_per_user,
            pool.images,
            self._settings.daily_images_per_chat,
            user.total_tokens,
            end,
            self._access.is_admin(chat, author),
            user.cost_usd,
            pool.cost_usd,
        )

    @asynccontextmanager
    async def reserve(
        self, chat: ChatKey, author: Author, images: int = 1, cost: float = 0.0
    ) -> AsyncIterator[None]:
        """Hold `images` and an estimated `cost` (USD) of today's quotas for the step run
        inside, or raise `QuotaExceeded`. The ledger settles the real figures after the call."""
        if self._access.is_admin(chat, author):
            yield
            return
        coordination = self._store.coordination
        start, end = day_bounds()
        hold = Hold(chat.platform, author.user_id, chat.pool, images, cost)
        hold_id = await coordination.hold(hold, start.timestamp(), partial(self._admit, hold, end))
        try:
            yield
        finally:
            # Shielded: a cancelled step must still give its hold back.
            await asyncio.shield(coordination.release(hold_id))

    def _admit(self, hold: Hold, resets_at: datetime, now: Holdings) -> None:
        """Refuse `hold` (raise `QuotaExceeded`) when it would pass a limit, given `now`."""
        limits = self._settings
        if now.user_in_flight >= limits.max_inflight_per_user:
            raise QuotaExceeded("inflight", limits.max_inflight_per_user, resets_at)
        user_budget, pool_budget = limits.daily_cost_usd_per_user, limits.daily_cost_usd_per_chat
        if (
            user_budget
            and now.user_cost_usd + now.user_held_cost_usd + hold.cost_usd > user_budget
        ):
            raise QuotaExceeded("cost_user", 0, resets_at, budget=user_budget)
        if (
            pool_budget
            and now.pool_cost_usd + now.pool_held_cost_usd + hold.cost_usd > pool_budget
        ):
            raise QuotaExceeded("cost_chat", 0, resets_at, budget=pool_budget)
        wanted = hold.images
        for scope, limit, used in (
            ("user", limits.daily_images_per_user, now.user_images + now.user_held_images),
            ("chat", limits.daily_images_per_chat, now.pool_images + now.pool_held_images),
        ):
            if limit and used + wanted > limit:
                left = max(0, limit - used)
                raise QuotaExceeded(scope, limit, resets_at, wanted=wanted, left=left)

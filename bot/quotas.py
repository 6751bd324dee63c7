"""Daily image quotas and in-flight limits: reserve before any work, charge only successes.

A step reserves one image before anything is downloaded. The usage ledger is written with the
model turn, so a success is charged by the ledger and a failure simply never is; either way the
reservation is released when the step ends. Counting reservations keeps concurrent steps of one
user from overshooting the limit together.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import LimitSettings
from bot.errors import BotError
from bot.limits import AccessPolicy
from bot.request import Author, ChatKey
from bot.store import Store

Key = tuple[str, str]  # (platform, user id or pool id)


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
    """Checks and reserves per-user and per-pool daily images and in-flight requests."""

    def __init__(self, settings: LimitSettings, store: Store, access: AccessPolicy) -> None:
        self._settings = settings
        self._store = store
        self._access = access
        self._inflight: Counter[Key] = Counter()
        self._reserved_users: Counter[Key] = Counter()
        self._reserved_pools: Counter[Key] = Counter()
        self._reserved_user_cost: defaultdict[Key, float] = defaultdict(float)
        self._reserved_pool_cost: defaultdict[Key, float] = defaultdict(float)
        self._lock = asyncio.Lock()

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

    def _counters(self, chat: ChatKey, author: Author) -> list[tuple[Counter[Key], Key]]:
        user, pool = (chat.platform, author.user_id), (chat.platform, chat.pool)
        return [(self._inflight, user), (self._reserved_users, user), (self._reserved_pools, pool)]

    @asynccontextmanager
    async def reserve(
        self, chat: ChatKey, author: Author, images: int = 1, cost: float = 0.0
    ) -> AsyncIterator[None]:
        """Hold `images` and an estimated `cost` (USD) of today's quotas for the step run
        inside, or raise `QuotaExceeded`. The ledger settles the real figures after the call."""
        if self._access.is_admin(chat, author):
            yield
            return
        user, pool = (chat.platform, author.user_id), (chat.platform, chat.pool)
        limits = self._settings
        async with self._lock:  # check-then-hold must not interleave with another check
            self._check_inflight(chat, author)
            if (
                limits.daily_images_per_user
                or limits.daily_images_per_chat
                or limits.daily_cost_usd_per_user
                or limits.daily_cost_usd_per_chat
            ):
                await self._check_daily(chat, author, images, cost)
            # One request in flight, however many images it asks for.
            held = [
                (c, k, 1 if c is self._inflight else images)
                for c, k in self._counters(chat, author)
            ]
            for counter, key, count in held:
                counter[key] += count
            costs = ((self._reserved_user_cost, user), (self._reserved_pool_cost, pool))
            for reserved, key in costs:
                reserved[key] += cost
        try:
            yield
        finally:
            for counter, key, count in held:
                counter[key] -= count
                if counter[key] <= 0:
                    del counter[key]
            for reserved, key in costs:
                reserved[key] -= cost
                if reserved[key] <= 1e-9:
                    del reserved[key]

    def _check_inflight(self, chat: ChatKey, author: Author) -> None:
        limit = self._settings.max_inflight_per_user
        if self._inflight[(chat.platform, author.user_id)] >= limit:
            raise QuotaExceeded("inflight", limit, day_bounds()[1])

    async def _check_daily(self, chat: ChatKey, author: Author, images: int, cost: float) -> None:
        status = await self.status(chat, author)
        user, pool = (chat.platform, author.user_id), (chat.platform, chat.pool)
        user_budget = self._settings.daily_cost_usd_per_user
        pool_budget = self._settings.daily_cost_usd_per_chat
        if user_budget and status.cost_today + self._reserved_user_cost[user] + cost > user_budget:
            raise QuotaExceeded("cost_user", 0, status.resets_at, budget=user_budget)
        if (
            pool_budget
            and status.pool_cost_today + self._reserved_pool_cost[pool] + cost > pool_budget
        ):
            raise QuotaExceeded("cost_chat", 0, status.resets_at, budget=pool_budget)
        user_limit, pool_limit = status.user_limit, status.pool_limit
        reserved_user = self._reserved_users[(chat.platform, author.user_id)]
        reserved_pool = self._reserved_pools[(chat.platform, chat.pool)]
        if user_limit and status.user_used + reserved_user + images > user_limit:
            left = max(0, user_limit - status.user_used - reserved_user)
            raise QuotaExceeded("user", user_limit, status.resets_at, wanted=images, left=left)
        if pool_limit and status.pool_used + reserved_pool + images > pool_limit:
            left = max(0, pool_limit - status.pool_used - reserved_pool)
            raise QuotaExceeded("chat", pool_limit, status.resets_at, wanted=images, left=left)

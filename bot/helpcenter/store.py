"""What the help center remembers: article views (hourly counters), searches and feedback.

Searches and feedback are report records (`bot.records`); views are too many to keep one
record each, so they are counted per hour and entry in a Redis hash that expires with the
other records.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable

from redis.asyncio import Redis

from bot.records import HelpFeedback, HelpSearch, RecordStore
from bot.storage import Keys

HOUR = 3600


class HelpCenterStore:
    """Counts views and files searches and feedback for the reports."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        records: RecordStore,
        *,
        retention_days: float,
        clock: Callable[[], float] = time.time,
    ):
        self._redis = redis
        self._keys = keys
        self._records = records
        self._retention_seconds = int(retention_days * 86_400)
        self._clock = clock

    def now(self) -> float:
        """The store's clock (epoch seconds): records are filed at this time."""
        return self._clock()

    def _bucket(self, hour: int) -> str:
        return self._keys.help_views(hour)

    async def count_view(self, faq_id: str) -> None:
        """One reader opened the entry's page."""
        hour = int(self._clock() // HOUR)
        key = self._bucket(hour)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, faq_id, 1)
            pipe.expire(key, self._retention_seconds + HOUR)
            await pipe.execute()

    async def views(self, since: float, until: float) -> dict[str, int]:
        """Views per entry in the hours starting between `since` and `until` (epoch seconds)."""
        first, last = math.floor(since / HOUR), math.ceil(until / HOUR)
        if last <= first:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for hour in range(first, last):
                pipe.hgetall(self._bucket(hour))
            buckets: list[dict[str, str]] = await pipe.execute()
        total: Counter[str] = Counter()
        for bucket in buckets:
            total.update({faq_id: int(n) for faq_id, n in bucket.items()})
        return dict(total)

    async def recent_views(self, days: float) -> dict[str, int]:
        """Views per entry in the last `days` days."""
        now = self._clock()
        return await self.views(now - days * 86_400, now)

    async def record_search(self, search: HelpSearch) -> None:
        """File a search (its text, outcome and results) for the reports."""
        await self._records.add(search)

    async def record_feedback(self, feedback: HelpFeedback) -> None:
        """File a reader's "did this solve it?" answer (or its follow-up comment)."""
        await self._records.add(feedback)

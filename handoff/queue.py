"""The handoff queue in Redis: a sorted set ordered by priority, then by time of asking.

The queue is an index; the conversation's own state (`queued`) is the truth. A claim moves
the conversation's state first (compare-and-set) and removes the queue entry after, so a
stale entry can only ever point at a conversation that is no longer queued, and readers skip
those.
"""

from __future__ import annotations

import statistics
from typing import cast

from redis.asyncio import Redis

from bot.storage import Keys

# Priorities stay far apart in score so that a VIP asking later still comes first.
_PRIORITY_WEIGHT = 1e11
_RECENT_WAITS = 50


class RedisHandoffQueue:
    """`bot.ports.HandoffQueue` on Redis."""

    def __init__(self, redis: Redis, keys: Keys):
        self._redis = redis
        self._keys = keys

    @property
    def _waits_key(self) -> str:
        return f"{self._keys.queue()}:recent_waits"

    async def enqueue(self, customer_key: str, *, queued_at: float, priority: int = 0) -> None:
        """Add a customer; a customer already waiting keeps their place."""
        score = queued_at - priority * _PRIORITY_WEIGHT
        await self._redis.zadd(self._keys.queue(), {customer_key: score}, nx=True)

    async def dequeue(self, customer_key: str) -> None:
        """Remove a customer from the queue."""
        await self._redis.zrem(self._keys.queue(), customer_key)

    async def position(self, customer_key: str) -> int | None:
        """1-based place in line, or None when not waiting."""
        rank = await self._redis.zrank(self._keys.queue(), customer_key)
        return None if rank is None else cast(int, rank) + 1

    async def waiting(self, limit: int = 100) -> list[str]:
        """Customer keys in the order they will be served."""
        return cast(list[str], await self._redis.zrange(self._keys.queue(), 0, limit - 1))

    async def length(self) -> int:
        """How many customers wait."""
        return cast(int, await self._redis.zcard(self._keys.queue()))

    async def count_ahead(self, *, queued_at: float, priority: int = 0) -> int:
        """How many waiting customers would be served before one joining now."""
        score = queued_at - priority * _PRIORITY_WEIGHT
        return cast(int, await self._redis.zcount(self._keys.queue(), "-inf", score))

    async def record_wait(self, seconds: float) -> None:
        """Remember how long a claimed customer waited, for the next estimates."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self._waits_key, f"{seconds:.1f}")
            pipe.ltrim(self._waits_key, 0, _RECENT_WAITS - 1)
            await pipe.execute()

    async def count_escalation(self, origin: str, window_seconds: float) -> int:
        """Count one escalation from `origin` in a fixed window; the count so far."""
        key = self._keys.rate_limit("escalations", origin)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, max(1, int(window_seconds)), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def estimated_wait_seconds(self) -> float | None:
        """The median of recent waits, or None before three customers were served."""
        raw = await self._redis.lrange(self._waits_key, 0, -1)
        if len(raw) < 3:
            return None
        return statistics.median(float(x) for x in raw)

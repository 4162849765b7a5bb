"""The archive's index of conversations on the real test Redis: entries past retention
leave it as new conversations are indexed."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.archive import ConversationArchive
from bot.clock import FixedClock
from bot.records import RecordStore
from bot.storage import Keys
from bot.store.conversations import RedisConversationStore

DAY = 86400.0


async def test_conversations_past_retention_leave_the_index(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    clock = FixedClock(1_800_000_000.0)
    store = RedisConversationStore(redis_client, keys, ttl_seconds=3600, dedupe_ttl_seconds=60)
    records = RecordStore(redis_client, keys, retention_days=30, clock=clock)
    archive = ConversationArchive(
        redis_client, keys, store, records, retention_days=30, clock=clock
    )

    await archive.opened("old", "line:Uold", clock.now())
    clock.advance(10)
    await archive.opened("same-minute", "line:Uother", clock.now())
    assert await redis_client.zrange(keys.archive_index(), 0, -1) == ["old", "same-minute"]

    clock.advance(31 * DAY)
    await archive.opened("new", "line:Unew", clock.now())
    assert await redis_client.zrange(keys.archive_index(), 0, -1) == ["new"]
    ttl = await redis_client.ttl(keys.archive_index())
    assert 29 * DAY < ttl <= 30 * DAY

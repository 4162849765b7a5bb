"""Redis stays bounded: unused conversations go sooner, report streams have a size cap.

docs/reliability.md has the arithmetic these bounds give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis

from bot.records import RECORD_TEXT_MAX_CHARS, RecordStore, SurveyResponse, UnansweredMessage
from bot.settings import Settings
from bot.storage import Keys
from tests.conftest import RunningApp
from tests.webclient import WebCustomer

DAY, MONTH = 24 * 3600, 30 * 24 * 3600


async def ttls_of(redis: aioredis.Redis, prefix: str, user_id: str) -> dict[str, int]:
    """Every key naming the customer, with its remaining time to live in seconds."""
    return {
        key: int(await redis.ttl(key))
        async for key in redis.scan_iter(match=f"{prefix}:*{user_id}*")
    }


async def test_a_conversation_nobody_wrote_in_is_kept_a_day_and_one_used_a_month(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        conversation_ttl_seconds=MONTH,
        conversation_ttl_without_reply_seconds=DAY,
        dedupe_ttl_seconds=7 * DAY,
    )
    running: RunningApp = await serve_app(settings)
    redis = running.runtime.redis
    async with httpx.AsyncClient(base_url=running.base_url, timeout=15) as http:
        idle, used = await WebCustomer.start(http), await WebCustomer.start(http)
        await idle.next_from("bot")
        await used.next_from("bot")
        await used.say("送料はいくらですか？")
        await used.next_from("bot")

    idle_keys = await ttls_of(redis, settings.key_prefix, idle.user_id)
    assert any(k.endswith(":state") for k in idle_keys) and any(
        k.endswith(":web_outbox") for k in idle_keys
    ), idle_keys
    assert all(0 < ttl <= DAY for ttl in idle_keys.values()), idle_keys

    used_keys = await ttls_of(redis, settings.key_prefix, used.user_id)
    long_lived = {k: t for k, t in used_keys.items() if k.endswith((":state", ":web_outbox"))}
    assert len(long_lived) == 2 and all(t > 29 * DAY for t in long_lived.values()), used_keys


async def test_report_streams_keep_at_most_max_entries_and_clip_long_texts(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=400, max_entries=5)
    for n in range(12):
        await records.add(
            UnansweredMessage(text=f"{n}:" + "長" * 4000, channel="web", conversation_id="c")
        )
        await records.add(
            SurveyResponse(
                conversation_id=f"c{n}",
                customer_key="web:w_x",
                channel="web",
                score=1,
                comment="x" * 4000,
                resolved_by="bot",
            )
        )
    kept = [r.text async for r in records.read(UnansweredMessage)]
    assert [t.split(":")[0] for t in kept] == ["7", "8", "9", "10", "11"], "the newest five"
    assert all(len(t) == RECORD_TEXT_MAX_CHARS for t in kept)
    surveys = [r async for r in records.read(SurveyResponse)]
    assert len(surveys) == 5
    assert all(len(r.comment or "") == RECORD_TEXT_MAX_CHARS for r in surveys)
    for kind in ("unanswered", "surveys"):
        assert await redis_client.xlen(f"{key_prefix}:records:{kind}") == 5

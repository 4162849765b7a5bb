"""A separate process running an inbox worker whose handler records and then hangs.

Used by tests/test_inbox.py to kill a worker (SIGKILL) in the middle of handling an event.
Usage: python -m tests.inbox_worker_process REDIS_URL PREFIX PARTITIONS
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from bot.inbox import Inbox
from bot.inbox_worker import InboxWorker
from bot.model import Inbound
from bot.storage import Keys


async def main(url: str, prefix: str, partitions: int) -> None:
    redis = aioredis.Redis.from_url(url, decode_responses=True)
    inbox = Inbox(redis, Keys(prefix), partitions)

    async def record_then_hang(inbound: Inbound) -> None:
        await redis.rpush(f"{prefix}:started", inbound.event_id)
        await asyncio.Event().wait()  # never finishes: the test kills us here

    worker = InboxWorker(inbox, record_then_hang, worker_id="doomed", lease_seconds=1.0)
    await worker.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

"""The inbox: every inbound event passes through Redis before the dispatcher sees it.

Events are sharded by customer over `INBOX_PARTITIONS` streams. Each shard is read by one
worker at a time (a lease in Redis), through a consumer group, so:

- an event is acknowledged only after it was handled: a worker that dies leaves it pending
  and the next owner of the shard handles it (`XAUTOCLAIM`);
- one customer's events stay in one shard, read in order by one worker, which handles them
  one after another while other customers' events run concurrently;
- handling is idempotent on the event id (the dispatcher's business), so a replay is safe.

This module is the producer side; `bot/inbox_worker.py` is the consumer side.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import zlib
from collections.abc import Callable
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from bot.identity.links import Identities
from bot.model import Inbound
from bot.storage import Keys, write_replicated

GROUP = "dispatch"

# The events of a webhook whose customers are all unlinked (nearly always), stored in the
# same round trip as the look-up that says so: KEYS are the identity links (ARGV[1] of
# them), then one shard per event; ARGV the events. Any link found: nothing is written and
# the links are returned (the caller resolves and writes again). Atomic, so no link can
# appear between the look-up and the writes.
_PUT_UNLINKED = """
local links = tonumber(ARGV[1])
local found = {}
for i = 1, links do
  if redis.call('EXISTS', KEYS[i]) == 1 then found[#found + 1] = KEYS[i] end
end
if #found > 0 then return {0, found} end
local ids = {}
for i = links + 1, #KEYS do
  ids[#ids + 1] = redis.call('XADD', KEYS[i], '*', 'event', ARGV[i - links + 1])
end
return {1, ids}
"""


class Inbox:
    """The producer side: adapters put events in, workers are told something arrived."""

    def __init__(self, redis: Redis, keys: Keys, partitions: int):
        self.redis = redis
        # The shards' key names depend on how many there are (`Keys.inbox`).
        self.keys = dataclasses.replace(keys, partitions=partitions)
        self.partitions = partitions
        self._arrivals = [asyncio.Event() for _ in range(partitions)]
        self.identities = Identities(redis, keys)

    def partition_of(self, customer_key: str) -> int:
        """The shard of a customer: stable across processes and restarts."""
        return zlib.crc32(customer_key.encode("utf-8")) % self.partitions

    async def put(self, inbound: Inbound) -> str:
        """Store an event durably; returns its stream id. Raises if Redis is unreachable
        (or, when replicas are waited for, if none has the event in time).

        A linked customer's events go to the shard of their profile key, so what they
        write on LINE and on the web is handled in order, one after another.
        """
        customer = await self.identities.resolve(inbound.customer_key)
        if customer != inbound.customer_key:
            inbound = inbound.model_copy(update={"customer": customer})
        partition = self.partition_of(inbound.conversation_key)
        stream = self.keys.inbox(partition)
        [entry_id] = await write_replicated(
            self.redis, stream, lambda pipe: pipe.xadd(stream, {"event": inbound.model_dump_json()})
        )
        self._arrivals[partition].set()
        return cast(str, entry_id)

    async def put_all(
        self, inbounds: list[Inbound], *, also: Callable[[Pipeline], None] | None = None
    ) -> None:
        """Store a webhook's events durably, in order, as `put` does, with the adapter's own
        writes (`also`, queued first on the same pipeline). On one Redis server that is one
        round trip for all of them when none of their customers is linked (a script looks
        the links up and adds the events); a linked customer costs one more look-up and
        one more write. On a cluster, two round trips: the customers' identities, then the
        events with `also`. When replicas are waited for,
        each shard's events are written and waited for on their own (a `WAIT` covers one
        node's connection). Raises if Redis is unreachable (or no replica has them in time);
        then none or only some were stored, and the platform's retry brings them again (a
        replay of a stored one is harmless)."""
        if not inbounds:
            return
        if not isinstance(self.redis, RedisCluster) and await self._put_unlinked(inbounds, also):
            return
        # On a cluster the identity links and the shards live in different slots (their
        # hash tags differ), which no one script may touch: two round trips there.
        resolved = await self.identities.resolve_many([i.customer_key for i in inbounds])
        # On one server, `_put_unlinked` has stored what `also` writes already.
        first_also = also if isinstance(self.redis, RedisCluster) else None
        by_shard: dict[int, list[Inbound]] = {}
        for inbound in inbounds:
            customer = resolved[inbound.customer_key]
            if customer != inbound.customer_key:
                inbound = inbound.model_copy(update={"customer": customer})
            by_shard.setdefault(self.partition_of(inbound.conversation_key), []).append(inbound)
        shards = list(by_shard.items())
        waits = getattr(self.redis, "replica_wait", None)
        batches = [[shard] for shard in shards] if waits and waits.replicas else [shards]
        for n, batch in enumerate(batches):

            def queue(
                pipe: Pipeline, batch: list[tuple[int, list[Inbound]]] = batch, first: bool = n == 0
            ) -> None:
                if first and first_also is not None:
                    first_also(pipe)
                for partition, events in batch:
                    for inbound in events:
                        pipe.xadd(self.keys.inbox(partition), {"event": inbound.model_dump_json()})

            await write_replicated(self.redis, self.keys.inbox(batch[0][0]), queue)
        for partition in by_shard:
            self._arrivals[partition].set()

    async def _put_unlinked(
        self, inbounds: list[Inbound], also: Callable[[Pipeline], None] | None
    ) -> bool:
        """On one Redis server: store the events in one round trip, with `also`, if none
        of their customers is linked (True); else store only what `also` writes (False:
        the caller resolves the links and stores the events)."""
        links = list(dict.fromkeys(self.keys.identity_link(i.customer_key) for i in inbounds))
        partitions = [self.partition_of(i.conversation_key) for i in inbounds]
        streams = [self.keys.inbox(partition) for partition in partitions]
        events = [inbound.model_dump_json() for inbound in inbounds]

        def queue(pipe: Pipeline) -> None:
            if also is not None:
                also(pipe)
            pipe.eval(
                _PUT_UNLINKED, len(links) + len(streams), *links, *streams, len(links), *events
            )

        results = await write_replicated(self.redis, streams[0], queue)
        stored, _ = results[-1]
        if not int(stored):
            return False
        for partition in set(partitions):
            self._arrivals[partition].set()
        return True

    async def wait_for_arrival(self, partition: int, timeout: float) -> None:
        """Wait until this process puts an event in `partition`, or `timeout` passes."""
        arrival = self._arrivals[partition]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrival.wait(), timeout)
        arrival.clear()

    async def backlog(self) -> int:
        """Events stored and not yet settled (unread, or being handled), over all shards.

        A settled event is deleted from its shard, so this is zero exactly when every event
        put so far has been handled (or dead-lettered).
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.partitions):
                pipe.xlen(self.keys.inbox(partition))
            lengths = await pipe.execute()
        return sum(int(n) for n in lengths)

    async def pending_count(self) -> int:
        """Events a worker has read but not yet acknowledged, over all shards (unread events
        are not counted: see `backlog`)."""
        total = 0
        for partition in range(self.partitions):
            with contextlib.suppress(ResponseError):
                info = await self.redis.xpending(self.keys.inbox(partition), GROUP)
                total += int(info["pending"])
        return total

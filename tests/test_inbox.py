"""The inbox's guarantees, against a real Redis: replay after a crash, order, no overlap."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from bot.composition.runtime import Runtime
from bot.identity.links import Identities
from bot.inbox import GROUP, Inbox
from bot.inbox_worker import _MARK_ACK_AND_DELETE, InboxWorker
from bot.model import Inbound
from bot.settings import Settings
from bot.storage import Keys
from tests.conftest import REDIS_URL, ROOT
from tests.eventually import eventually, settled
from tests.redis_relay import StallingRelay


def event(user: str, n: int) -> Inbound:
    return Inbound(event_id=f"{user}-{n}", channel="web", user_id=user, text=str(n))


@pytest.mark.faults
@pytest.mark.slow
async def test_an_event_read_but_not_acknowledged_before_a_crash_is_handled_after_restart_once(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    inbox = Inbox(redis_client, Keys(key_prefix), partitions=2)
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.inbox_worker_process",
        REDIS_URL,
        key_prefix,
        "2",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        await inbox.put(event("alice", 1))

        async def started() -> bool:
            return await redis_client.llen(f"{key_prefix}:started") == 1

        await eventually(started)
    finally:
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
    assert await inbox.pending_count() == 1, "read, never acknowledged"

    handled: list[str] = []

    async def handle(inbound: Inbound) -> None:
        handled.append(inbound.event_id)

    stop = asyncio.Event()
    survivor = InboxWorker(inbox, handle, worker_id="survivor", lease_seconds=1.0)
    task = asyncio.create_task(survivor.run(stop))

    async def drained() -> bool:
        return handled == ["alice-1"] and await inbox.backlog() == 0

    await eventually(drained)
    stop.set()
    await task
    assert handled == ["alice-1"]


async def test_one_customers_events_run_in_order_and_never_at_once_across_workers(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    inbox = Inbox(redis_client, Keys(key_prefix), partitions=4)
    running: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    order: dict[str, list[int]] = defaultdict(list)
    busy_customers: set[str] = set()
    concurrent_customers = 0

    async def handle(inbound: Inbound) -> None:
        nonlocal concurrent_customers
        user = inbound.user_id
        running[user] += 1
        busy_customers.add(user)
        concurrent_customers = max(concurrent_customers, len(busy_customers))
        if running[user] > 1:
            overlaps.append(user)
        await asyncio.sleep(0.005)
        order[user].append(int(inbound.text))
        running[user] -= 1
        if running[user] == 0:
            busy_customers.discard(user)

    stop = asyncio.Event()
    workers = [InboxWorker(inbox, handle, worker_id=f"w{i}", lease_seconds=2.0) for i in range(3)]
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    users = [f"user{u}" for u in range(8)]
    for n in range(25):
        for user in users:
            await inbox.put(event(user, n))

    async def all_done() -> bool:
        return sum(len(v) for v in order.values()) == 25 * len(users)

    await eventually(all_done)
    stop.set()
    await asyncio.gather(*tasks)
    assert not overlaps
    assert all(order[user] == list(range(25)) for user in users)
    assert concurrent_customers > 1, "different customers are handled concurrently"
    assert await inbox.backlog() == 0


async def test_a_failing_event_is_retried_then_dead_lettered_without_blocking_others(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    inbox = Inbox(redis_client, keys, partitions=1)
    attempts: list[str] = []
    handled: list[str] = []

    async def handle(inbound: Inbound) -> None:
        attempts.append(inbound.event_id)
        if inbound.user_id == "broken":
            raise ValueError("cannot handle this one")
        handled.append(inbound.event_id)

    stop = asyncio.Event()
    worker = InboxWorker(inbox, handle, max_attempts=3, retry_base_seconds=0.01)
    task = asyncio.create_task(worker.run(stop))
    await inbox.put(event("broken", 1))
    await inbox.put(event("fine", 1))

    async def dead_lettered() -> bool:
        return await redis_client.xlen(keys.inbox_dead()) == 1 and handled == ["fine-1"]

    await eventually(dead_lettered)
    stop.set()
    await task
    assert attempts.count("broken-1") == 3
    [(_, dead)] = await redis_client.xrange(keys.inbox_dead())
    assert "cannot handle this one" in dead["error"]


async def test_a_burst_worker_handles_everything_then_returns(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    inbox = Inbox(redis_client, keys, partitions=4)
    handled: list[str] = []

    async def handle(inbound: Inbound) -> None:
        handled.append(inbound.event_id)
        if inbound.user_id == "broken":
            raise ValueError("cannot handle this one")
        if inbound.text == "0":  # handling one event puts another, as a timer does
            await inbox.put(event(inbound.user_id, 1))

    for user in ("alice", "bob", "carol", "broken"):
        await inbox.put(event(user, 0))
    worker = InboxWorker(inbox, handle, max_attempts=2, retry_base_seconds=0.01)
    await asyncio.wait_for(worker.run(asyncio.Event(), burst=True), timeout=60)

    assert await inbox.backlog() == 0
    assert sorted(e for e in handled if not e.startswith("broken")) == [
        "alice-0", "alice-1", "bob-0", "bob-1", "carol-0", "carol-1",
    ]  # fmt: skip
    assert await redis_client.xlen(keys.inbox_dead()) == 1, "the broken one, dead-lettered"
    assert await redis_client.zcard(keys.workers()) == 0, "it left the worker set"


async def test_a_burst_worker_on_an_empty_inbox_returns_at_once(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    inbox = Inbox(redis_client, Keys(key_prefix), partitions=2)
    handled: list[Inbound] = []

    async def handle(inbound: Inbound) -> None:
        handled.append(inbound)

    await asyncio.wait_for(InboxWorker(inbox, handle).run(asyncio.Event(), burst=True), 60)
    assert handled == [] and await inbox.backlog() == 0


async def test_events_delivered_by_a_read_whose_reply_was_lost_are_handled_first(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    # When a connection drops after Redis delivered a read but before its reply arrived,
    # the client sends the read again and gets the *next* events: the first ones sit
    # delivered to this worker, unseen. They must still be handled, before the later ones.
    keys = Keys(key_prefix)
    inbox = Inbox(redis_client, keys, partitions=1)
    handled: list[str] = []

    async def handle(inbound: Inbound) -> None:
        handled.append(inbound.event_id)

    stop = asyncio.Event()
    worker = InboxWorker(inbox, handle, worker_id="w-lost-reply", lease_seconds=5.0)
    task = asyncio.create_task(worker.run(stop))
    try:
        await inbox.put(event("alice", 0))
        await eventually(lambda: handled == ["alice-0"], what="the worker is reading")
        async with redis_client.pipeline(transaction=True) as pipe:
            pipe.xadd(inbox.keys.inbox(0), {"event": event("alice", 1).model_dump_json()})
            pipe.xadd(inbox.keys.inbox(0), {"event": event("alice", 2).model_dump_json()})
            # The read whose reply was lost: delivered to the worker, never seen by it.
            pipe.xreadgroup(GROUP, worker.worker_id, {inbox.keys.inbox(0): ">"}, count=1)
            await pipe.execute()
        await inbox.put(event("alice", 3))
        await eventually(lambda: len(handled) >= 4, what="every event handled")
        assert handled == ["alice-0", "alice-1", "alice-2", "alice-3"]
        await settled(inbox)
    finally:
        stop.set()
        await task


async def stored_events(inbox: Inbox) -> dict[int, list[Inbound]]:
    """What each shard holds, in order."""
    shards: dict[int, list[Inbound]] = {}
    for partition in range(inbox.partitions):
        entries = await inbox.redis.xrange(inbox.keys.inbox(partition))
        if entries:
            shards[partition] = [Inbound.model_validate_json(f["event"]) for _, f in entries]
    return shards


@pytest.mark.parametrize("linked", [False, True], ids=["unlinked", "one-linked"])
async def test_a_webhooks_events_are_stored_in_order_in_their_customers_shards_with_the_adapters_writes_once(  # noqa: E501
    redis_client: aioredis.Redis, key_prefix: str, linked: bool
) -> None:
    keys = Keys(key_prefix)
    inbox = Inbox(redis_client, keys, partitions=4)
    if linked:

        async def nothing_going_on(_: str) -> None:
            return None

        # "web:carol" becomes the profile key: bob's LINE events go to carol's conversation.
        await Identities(redis_client, keys).link("web:carol", "line:bob", nothing_going_on)
    profile_key = await Identities(redis_client, keys).resolve("line:bob")

    def bobs(n: int) -> Inbound:
        return Inbound(event_id=f"bob-{n}", channel="line", user_id="bob", text=str(n))

    events = [event("alice", 1), bobs(1), event("alice", 2), bobs(2)]

    def also(pipe: Pipeline) -> None:
        pipe.incr(f"{key_prefix}:also")

    await inbox.put_all(events, also=also)

    shards = await stored_events(inbox)
    assert await redis_client.get(f"{key_prefix}:also") == "1", "the adapter's writes, once"
    alice = shards[inbox.partition_of("web:alice")]
    bob = shards[inbox.partition_of(profile_key)]
    assert [e.event_id for e in alice if e.user_id == "alice"] == ["alice-1", "alice-2"]
    assert [e.event_id for e in bob if e.user_id == "bob"] == ["bob-1", "bob-2"]
    assert {e.conversation_key for e in bob if e.user_id == "bob"} == {profile_key}
    assert sum(len(s) for s in shards.values()) == 4
    assert (profile_key == "web:carol") is linked


async def test_a_worker_starved_past_its_lease_starts_nothing_more_until_it_holds_it_again(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    inbox = Inbox(redis_client, Keys(key_prefix), partitions=1)
    keys = inbox.keys
    handled: list[str] = []
    # A plain client: it works while this process's event loop is frozen.
    frozen_side = redis.Redis.from_url(REDIS_URL, decode_responses=True)

    async def handle(inbound: Inbound) -> None:
        handled.append(inbound.event_id)
        if inbound.event_id == "alice-0":
            # The fault: the worker gets no CPU for longer than its lease (the loop is
            # frozen). Meanwhile the lease runs out, another worker takes the shard, and
            # the customer writes twice more.
            time.sleep(1.2)  # noqa: ASYNC251
            assert frozen_side.set(keys.inbox_lease(0), "another", nx=True, px=60_000)
            for n in (1, 2):
                frozen_side.xadd(keys.inbox(0), {"event": event("alice", n).model_dump_json()})

    stop = asyncio.Event()
    worker = InboxWorker(inbox, handle, worker_id="starved", lease_seconds=1.0)
    task = asyncio.create_task(worker.run(stop))
    try:
        await inbox.put(event("alice", 0))
        await eventually(lambda: "alice-0" in handled)
        await eventually(lambda: worker.owned_partitions == [], what="the shard seen lost")
        # Whatever it had read from the shard, it started none of it: the shard is another's.
        assert handled == ["alice-0"]
        # The shard is free again (the other worker went away): the pending events are
        # replayed, in order.
        await redis_client.delete(keys.inbox_lease(0))
        await eventually(lambda: len(handled) >= 3, what="the rest handled")
        assert handled == ["alice-0", "alice-1", "alice-2"]
        await settled(inbox)
    finally:
        stop.set()
        await task
        frozen_side.close()


async def test_an_events_applied_mark_goes_out_in_the_script_that_acknowledges_it(
    runtime: Runtime, key_prefix: str
) -> None:
    """Each event the dispatcher handled is marked applied in the same script as its
    acknowledgement, before it (never without it, never in a round trip of its own)."""
    events = [event(user, n) for n in range(3) for user in ("mika", "ren")]
    probe = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    seen: list[dict[str, str]] = []
    try:
        async with probe.monitor() as monitor:
            for inbound in events:
                await runtime.inbox.put(inbound)
            await settled(runtime.inbox)
            done = f"{key_prefix} settled"
            await probe.echo(done)
            async for command in monitor.listen():  # up to the probe's ECHO
                if done in command["command"]:
                    break
                if command["command"].startswith(("HSET", "XACK")) and key_prefix in str(
                    command["command"]
                ):
                    seen.append(command)
    finally:
        await probe.aclose()

    marks = [c for c in seen if c["command"].split(" ")[::2] == ["HSET", "applied"]]
    assert sorted(c["command"].split(" ")[1] for c in marks) == sorted(
        runtime.keys.event(e.conversation_key, e.event_id) for e in events
    ), "one mark per event"
    assert all(c["client_type"] == "lua" for c in marks), "no mark of its own"
    # Each script marks its batch's events, then acknowledges their entries.
    acknowledgements = [c for c in seen if c["command"].startswith("XACK")]
    assert all(c["client_type"] == "lua" for c in acknowledgements)
    order = "".join("M" if c in marks else "A" for c in seen if c in marks + acknowledgements)
    assert re.fullmatch("(M*A)+", order), order
    for inbound in events:
        stored = await runtime.store.handled(inbound.conversation_key, inbound.event_id)
        assert stored is not None and stored.applied


async def test_events_whose_acknowledgement_was_lost_as_their_worker_stopped_stay_marked_applied(
    make_settings: Callable[..., Settings],
) -> None:
    """A worker that stops while its acknowledgement (which carries the applied marks) does
    not reach Redis still marks the events it handled: the next owner replays them only to
    acknowledge them, and carries none of their effects out again."""
    settings = make_settings(inbox_partitions=1, inbox_lease_seconds=2.0, run_worker=False)
    inbound = event("mika", 1)
    async with contextlib.AsyncExitStack() as stack:
        relay = await StallingRelay().start()
        stack.push_async_callback(relay.stop)
        stopping = Runtime(settings.model_copy(update={"redis_url": relay.url}))
        stack.push_async_callback(stopping.redis.aclose)
        await stopping.start(run_worker=False)
        stack.push_async_callback(stopping.stop)
        worker, stop = stopping.inbox_worker(), asyncio.Event()
        worker.shutdown_cut_off = 1.0  # the acknowledgement will not come back in time
        script = hashlib.sha1(_MARK_ACK_AND_DELETE.encode()).hexdigest()
        # The script's call, and the client's retries of it, are held on their way.
        acknowledgement, *_retries = [relay.stall(script.encode()) for _ in range(5)]
        running = asyncio.create_task(worker.run(stop))
        await stopping.inbox.put(inbound)
        await asyncio.wait_for(acknowledgement.seen.wait(), 30)
        stop.set()  # while the acknowledgement is held on its way
        await running

        async def marked() -> bool:
            stored = await stopping.store.handled(inbound.conversation_key, inbound.event_id)
            return stored is not None and stored.applied

        await eventually(marked, what="the handled event marked applied")
        assert await stopping.inbox.pending_count() == 1, "not acknowledged"

        # The next owner (straight on Redis) replays the event, finds it applied and only
        # acknowledges it.
        next_owner = Runtime(settings)
        stack.push_async_callback(next_owner.redis.aclose)
        await next_owner.start(run_worker=False)
        stack.push_async_callback(next_owner.stop)
        answers = next_owner.keys.web_outbox(inbound.customer_key)
        sent = await next_owner.redis.xlen(answers)
        assert sent > 0
        await next_owner.drain_inbox()
        assert await next_owner.inbox.backlog() == 0
        assert await next_owner.redis.xlen(answers) == sent

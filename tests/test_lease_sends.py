"""A worker that stalls past its lease while a handler is about to send sends nothing once
another worker owns the shard: the customer hears each answer once, in order, and their
LINE menu ends as their conversation does. A worker that stops while a handler is still
sending keeps its lease until the handler has sent everything. Real Redis, the real app
and line-bot-sdk against the fake LINE platform; the stall is played by a relay between
one worker and Redis (tests/redis_relay.py), a slow LINE by the fake platform's holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from bot.composition.runtime import Runtime
from bot.inbox_worker import InboxWorker
from bot.metrics import REGISTRY
from bot.settings import Settings
from channels.line.settings import NAME
from tests.eventually import eventually, settled
from tests.fakes.line_platform import LineWorld, line_world
from tests.monotonic import SkippingClock
from tests.redis_relay import StallingRelay

PERSON_MENU = "richmenu-person-mode"
WAIT = 30.0  # how long before a step is called stuck (not a speed limit)


def sends_waiting_for_the_lease() -> float:
    return REGISTRY.get_sample_value("tsunagu_inbox_lease_waits_total", {"waiting": "send"}) or 0.0


def texts_to(world: LineWorld, user: str) -> list[str]:
    return [m.get("text", "") for m in world.platform.messages_to(user)]


async def escalation_held_by_line(world: LineWorld, user: str, worker: InboxWorker) -> None:
    """Once `worker` reads the only shard, `user` asks for a person and LINE holds the
    reply: the handler is in the middle of sending."""
    await eventually(lambda: worker.owned_partitions == [0], what="the worker reads")
    world.platform.hold("reply")
    await world.platform.say(user, "人と話したい")
    await eventually(lambda: world.platform.held["reply"] == 1, what="the reply is sent")


def stops_cut_off(caplog: pytest.LogCaptureFixture) -> list[bool | None]:
    """Whether each worker stop logged so far came at the cut-off."""
    stopped = [r for r in caplog.records if r.getMessage() == "inbox worker stopped"]
    return [getattr(r, "cut_off", None) for r in stopped]


@contextlib.asynccontextmanager
async def working(runtime: Runtime) -> AsyncIterator[InboxWorker]:
    """An inbox worker of `runtime`, running until the block ends."""
    worker, stop = runtime.inbox_worker(), asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def test_a_handler_of_a_worker_stalled_past_its_lease_sends_nothing_after_the_new_owner(
    make_settings: Callable[..., Settings], redis_client: aioredis.Redis
) -> None:
    # One shard, so both workers want the same one; the app itself only takes webhooks.
    settings = make_settings(inbox_partitions=1, inbox_lease_seconds=2.0, run_worker=False)
    async with contextlib.AsyncExitStack() as stack:
        relay = await StallingRelay().start()
        stack.push_async_callback(relay.stop)
        world = await stack.enter_async_context(line_world(settings, rich_menu_person=PERSON_MENU))
        platform = world.platform
        platform.add_rich_menu(PERSON_MENU)
        user = world.new_user("花子")
        keys, inbox = world.app.runtime.keys, world.app.runtime.inbox
        # The worker that stalls: the same app, its Redis commands through the relay.
        stalled = Runtime(
            settings.model_copy(
                update={
                    "redis_url": relay.url,
                    "channels": {NAME: platform.channel_settings(rich_menu_person=PERSON_MENU)},
                }
            )
        )
        stack.push_async_callback(stalled.redis.aclose)
        await stalled.start(run_worker=False)
        stack.push_async_callback(stalled.stop)
        first = await stack.enter_async_context(working(stalled))
        stack.callback(relay.release_all)  # a failed test must not leave a worker stuck
        await eventually(lambda: first.owned_partitions == [0], what="the first owns the shard")

        # The stall begins where the handler has saved its decision and is about to send:
        # its look for earlier sends parked for this customer does not reach Redis.
        at_send = relay.stall(keys.outbound_order(f"line:{user}", "line").encode())
        await platform.say(user, "人と話したい")
        await asyncio.wait_for(at_send.seen.wait(), WAIT)
        # From now on its renewals do not reach Redis either: the lease runs out.
        renewal = relay.stall(keys.inbox_lease(0).encode())

        # A second worker takes the shard over, replays the event and answers (the person
        # menu is linked), then answers the customer's next message (unlinked).
        second = await stack.enter_async_context(working(world.app.runtime))
        stack.callback(relay.release_all)
        await platform.wait_for_text(user, "番目", timeout=WAIT)
        await eventually(lambda: platform.menu_of(user) == PERSON_MENU, what="linked")
        assert second.owned_partitions == [0]

        async def first_reads_nothing() -> bool:
            # A read the first sent before its lease ran out may still be blocked in Redis,
            # and would take the next message: wait until it has returned.
            clients = await redis_client.client_list()
            return not any(
                c["addr"] in relay.upstream_addresses and "b" in c["flags"] for c in clients
            )

        await eventually(first_reads_nothing)
        await platform.say(user, "キャンセル")
        await platform.wait_for_text(user, "接続をキャンセルしました", timeout=WAIT)
        await eventually(lambda: platform.menu_of(user) is None, what="unlinked")
        await settled(inbox)
        answered, menu_calls = texts_to(world, user), list(platform.menu_calls)
        held = sends_waiting_for_the_lease()

        # The stalled handler runs again with its lease unconfirmed: it must wait for a
        # renewal rather than send (the escalation's replies and menu link).
        at_send.release()
        await eventually(
            lambda: sends_waiting_for_the_lease() > held or platform.menu_calls != menu_calls,
            what="the stalled handler waits or sends",
        )
        # Its renewal reaches Redis: the shard is the second worker's, and the first cancels
        # what it was handling from it.
        renewal.release()
        await eventually(lambda: first.owned_partitions == [], what="the first lost the shard")
        await settled(inbox)

        assert platform.menu_calls == menu_calls, "nothing from the stalled worker"
        assert menu_calls == [("link", user, PERSON_MENU), ("unlink", user, None)]
        assert platform.menu_of(user) is None
        assert texts_to(world, user) == answered
        assert sum("番目" in text for text in answered) == 1
        assert "接続をキャンセルしました" in answered[-1]
        assert second.owned_partitions == [0]


async def test_a_stopping_worker_renews_its_lease_until_its_handler_has_sent_everything(
    make_settings: Callable[..., Settings],
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tsunagu.inbox")
    lease = 3.0
    settings = make_settings(inbox_partitions=1, inbox_lease_seconds=lease, run_worker=False)
    async with line_world(settings, rich_menu_person=PERSON_MENU) as world:
        platform, runtime = world.platform, world.app.runtime
        platform.add_rich_menu(PERSON_MENU)
        user = world.new_user("花子")
        clock, stop = SkippingClock(), asyncio.Event()
        worker = runtime.inbox_worker(monotonic=clock)
        running = asyncio.create_task(worker.run(stop))
        try:
            # A slow LINE: the escalation's reply reaches it and waits there for an answer.
            await escalation_held_by_line(world, user, worker)

            # The worker is told to stop (a deploy): it reads no more and hands its shard
            # back once the handler is done.
            stop.set()
            await eventually(lambda: worker.owned_partitions == [], what="handing back")
            # LINE answers a whole lease after the worker last renewed its lease: the
            # handler's next send (the person menu's link) waits for a renewal first.
            clock.skip(lease)
            platform.release("reply")
        finally:
            stop.set()
            platform.release("reply")
            await asyncio.wait_for(running, WAIT)

        # The customer has the whole answer, once: the reply and the person menu.
        answered = texts_to(world, user)
        assert sum("番目" in text for text in answered) == 1, answered
        assert platform.menu_calls == [("link", user, PERSON_MENU)]
        # Acknowledged by this worker (no other ran): nothing left for a next owner.
        assert await runtime.inbox.backlog() == 0
        assert await runtime.inbox.pending_count() == 0
        assert await redis_client.get(runtime.keys.inbox_lease(0)) is None, "lease released"
        assert stops_cut_off(caplog) == [False], "ended by the drain"


async def test_a_worker_stopped_at_its_cut_off_frees_its_shard_for_the_next_owner(
    make_settings: Callable[..., Settings],
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tsunagu.inbox")
    settings = make_settings(inbox_partitions=1, inbox_lease_seconds=30.0, run_worker=False)
    async with line_world(settings, rich_menu_person=PERSON_MENU) as world:
        platform, runtime = world.platform, world.app.runtime
        platform.add_rich_menu(PERSON_MENU)
        user = world.new_user("花子")
        stop = asyncio.Event()
        worker = runtime.inbox_worker()
        worker.shutdown_cut_off = 1.0
        running = asyncio.create_task(worker.run(stop))
        try:
            # A LINE that does not answer: the handler is still sending at the cut-off.
            await escalation_held_by_line(world, user, worker)
            stop.set()
            await asyncio.wait_for(running, WAIT)
        finally:
            stop.set()
            platform.release("reply")
            await asyncio.wait_for(running, WAIT)

        assert stops_cut_off(caplog) == [True]
        # The event waits for the next owner, who need not wait out a 30-second lease.
        assert await runtime.inbox.pending_count() == 1
        assert await redis_client.get(runtime.keys.inbox_lease(0)) is None, "lease freed"

"""Faults under traffic, against real processes and a real Redis (docs/reliability.md).

- Worker processes are killed with SIGKILL at random moments and started again while a
  few thousand signed LINE webhooks go through the fake LINE platform: every event is
  answered exactly once, in order per customer.
- The Redis server is stopped and started again in the middle of traffic: webhooks answer
  503 meanwhile (LINE redelivers), /readyz says so, and everything acknowledged is
  answered once the server is back, with no manual step.
- A slow LINE API holds up nobody but the customer it is slow for.

Everything runs on loopback, each test is bounded in count and time and stops what it
started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import redis.asyncio as aioredis

from bot.faq import FaqEntry
from bot.inbox import Inbox
from bot.inbox_worker import InboxWorker
from bot.model import Inbound, Outgoing, Reply
from bot.send_guard import clear_to_send
from bot.settings import Settings
from bot.storage import Keys, connect
from channels.line.sender import call_ids
from channels.slack.blocks import CLAIM
from tests.conftest import ROOT
from tests.eventually import eventually, settled
from tests.fakes.line_platform import LineWorld, line_world
from tests.fakes.slack_platform import FakeSlack, serve_with_slack, slack_on
from tests.faults import PrivateRedis, WorkerProcess, worker_env
from tests.monotonic import SkippingClock
from tests.redis_relay import StallingRelay

pytestmark = [pytest.mark.faults, pytest.mark.slow]

log = logging.getLogger("tests.faults")

# FAQ entries whose own question is answered directly; their answers are all different,
# so what the platform recorded says which event each reply answers.
ENTRY_IDS = [
    "shipping-fee",
    "cancel-order",
    "return-policy",
    "payment-methods",
    "points-expiry",
    "forgot-password",
]


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A redis-server of this test alone (AOF on, fsync always), stopped afterwards."""
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def script(world: LineWorld) -> list[tuple[str, str]]:
    """(question, expected answer) pairs, in the order a customer asks them."""
    pairs = []
    for entry_id in ENTRY_IDS:
        entry: FaqEntry | None = world.app.runtime.faq.entry(entry_id)
        assert entry is not None, entry_id
        pairs.append((entry.question, entry.answer_for("ja")))
    assert len({answer for _, answer in pairs}) == len(pairs)
    return pairs


async def post_until_accepted(
    world: LineWorld, event: dict[str, Any], statuses: list[int], deadline: float
) -> None:
    """POST one webhook as LINE does: on anything but 2xx, redeliver the same event."""
    redelivery = False
    while True:
        try:
            status = await world.platform.post([event], redelivery=redelivery)
        except (aiohttp.ClientError, OSError):
            status = 0
        statuses.append(status)
        if 200 <= status < 300:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"webhook never accepted (last status {status})")
        redelivery = True
        await asyncio.sleep(0.2)


async def customer(
    world: LineWorld,
    user: str,
    questions: list[str],
    statuses: list[int],
    deadline: float,
    pause: float = 0.0,
) -> None:
    """One customer writing `questions` one after another, as LINE posts them."""
    for question in questions:
        await post_until_accepted(world, world.platform.text(user, question), statuses, deadline)
        if pause:
            await asyncio.sleep(pause)


def story(world: LineWorld, user: str) -> str:
    """What the platform recorded for one user, for a failure message."""
    lines = [
        f"{s.kind} {s.at:.3f} {s.retry_key} {s.messages[0].get('text', '')[:12]}"
        for s in world.platform.sent
        if s.to == user
    ]
    return f"{user}:\n" + "\n".join(lines)


def texts_to(world: LineWorld, user: str) -> list[str]:
    return [m.get("text", "") for m in world.platform.messages_to(user)]


async def test_sigkilled_workers_lose_nothing_and_answer_each_event_once_in_order(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    private_redis: PrivateRedis,
    tmp_path: Path,
    fault_seed: int,
) -> None:
    # A lease is a timing bound too: a live worker starved of CPU for longer loses its shards
    # while still handling them. The default (10 s) suits a busy machine; the killed wait it out.
    customers, per_customer, partitions, lease = 50, 40, 8, 10.0
    total = customers * per_customer
    settings = make_settings(
        redis_url=private_redis.url,
        run_worker=False,  # this process only answers webhooks; the workers are killable
        inbox_partitions=partitions,
        ask_if_solved=False,
    )
    chance = random.Random(fault_seed)
    # Kill a worker once this many webhooks were accepted: mid-traffic on any machine.
    kill_points = sorted(chance.sample(range(total // 10, total * 9 // 10), 5))
    # Exactly once holds while a replay comes within the reply token's life (the one window
    # docs/reliability.md leaves: an older replay pushes). On a busy machine a backlog alone
    # can outlast LINE's minute, so tokens live ten minutes here: this test is about crashes.
    token_life = 600.0
    async with line_world(settings) as world:
        platform = world.platform
        platform.reply_token_ttl = token_life
        env = worker_env(
            redis_url=private_redis.url,
            key_prefix=settings.key_prefix,
            faq_dir=str(ROOT / "faq_data"),
            faq_watch="false",
            secret_key="test-secret",
            inbox_partitions=str(partitions),
            inbox_lease_seconds=str(lease),
            ask_if_solved="false",
            line_channel_secret=platform.channel_secret,
            line_channel_access_token=platform.access_token,
            line_api_base_url=platform.base_url,
            line_data_api_base_url=platform.base_url,
            line_reply_token_ttl_seconds=str(token_life - 10),
        )
        workers = [WorkerProcess(env, tmp_path / f"worker{n}.log") for n in range(3)]
        pairs = script(world)
        users = [world.new_user(f"Customer {n}") for n in range(customers)]
        asked = {
            user: [pairs[(n + offset) % len(pairs)] for n in range(per_customer)]
            for offset, user in enumerate(users)
        }
        statuses: list[int] = []
        kills: list[int] = []

        async def killer() -> None:
            for point in kill_points:
                await eventually(
                    lambda point=point: statuses.count(200) >= point,  # type: ignore[misc]
                    timeout=120,
                    what=f"{point} webhooks accepted",
                )
                victim = chance.choice(workers)
                await victim.kill()
                kills.append(statuses.count(200))
                # Down for a moment (a fault, not a wait): its shards wait for their lease.
                await asyncio.sleep(chance.uniform(0.0, 0.5))
                await victim.start()

        try:
            for worker in workers:
                await worker.start()
            began = time.monotonic()
            deadline = began + 180  # a generous bound on being stuck, not on speed
            killing = asyncio.create_task(killer())
            await asyncio.gather(
                *(
                    customer(world, user, [q for q, _ in asked[user]], statuses, deadline)
                    for user in users
                )
            )
            await killing
            accepted = time.monotonic() - began
            await eventually(
                lambda: len(platform.sent) >= total, timeout=120, what="every event answered"
            )
            await settled(world.app.runtime.inbox, timeout=60)
            redis, keys = world.app.runtime.redis, world.app.runtime.keys
        finally:
            for worker in workers:
                await worker.stop()
        # The workers are gone and the inbox is empty: nothing more can be sent from here on.

        log.warning(
            "fault test: %d webhooks accepted in %.1fs, SIGKILLs after %s, all answered in %.1fs",
            total,
            accepted,
            kills,
            time.monotonic() - began,
        )
        assert len(kills) == len(kill_points)
        assert statuses.count(200) == total
        for user in users:
            assert texts_to(world, user) == [a for _, a in asked[user]], story(world, user)
        assert len(platform.sent) == total, "no reply was sent twice"
        assert await redis.xlen(keys.inbox_dead()) == 0


async def test_redis_restart_gives_503_then_recovers_with_nothing_acknowledged_lost(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    private_redis: PrivateRedis,
) -> None:
    customers, per_customer = 12, 25
    settings = make_settings(
        redis_url=private_redis.url, ask_if_solved=False, inbox_lease_seconds=10.0
    )
    # Replies replayed after the outage stay replies (see the SIGKILL test above).
    async with line_world(settings, reply_token_ttl_seconds=590) as world:
        world.platform.reply_token_ttl = 600.0
        pairs = script(world)
        users = [world.new_user(f"Customer {n}") for n in range(customers)]
        asked = {
            user: [pairs[(n + offset) % len(pairs)] for n in range(per_customer)]
            for offset, user in enumerate(users)
        }
        statuses: list[int] = []
        ready_during_outage: list[int] = []
        deadline = time.monotonic() + 180  # a generous bound on being stuck, not on speed

        def traffic(part: slice) -> asyncio.Future[list[None]]:
            return asyncio.gather(
                *(
                    customer(world, u, [q for q, _ in asked[u][part]], statuses, deadline, 0.05)
                    for u in users
                )
            )

        # The outage comes mid-traffic by construction: after the first half of every
        # customer's questions was accepted (and some answered), while the rest is sent.
        half = per_customer // 2
        await traffic(slice(0, half))
        await eventually(lambda: world.platform.sent, what="a first answer")
        async with httpx.AsyncClient(base_url=world.app.base_url) as http:
            answered_before = len(world.platform.sent)
            private_redis.stop()
            outage_began = len(statuses)
            rest = traffic(slice(half, None))
            for _ in range(10):
                ready_during_outage.append((await http.get("/readyz")).status_code)
                await asyncio.sleep(0.2)  # the outage lasts a while (a fault, not a wait)
            private_redis.start()
            await rest
            ready_after = (await http.get("/readyz")).status_code

        def all_answered() -> bool:
            return all(len(texts_to(world, u)) >= per_customer for u in users)

        await eventually(all_answered, timeout=120, what="every event answered after the restart")
        await settled(world.app.runtime.inbox)

    assert 0 < answered_before <= customers * half, "the outage came mid-traffic"
    assert set(ready_during_outage) == {503}
    assert ready_after == 200
    assert 503 in statuses[outage_began:], "webhooks were refused during the outage"
    assert set(statuses) <= {200, 503, 0}
    for user in users:
        assert texts_to(world, user) == [a for _, a in asked[user]], story(world, user)


async def test_a_slow_line_api_holds_up_no_other_customer(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    delay, customers = 2.0, 20
    settings = make_settings(ask_if_solved=False)
    async with line_world(settings) as world:
        platform = world.platform
        pairs = script(world)
        users = [world.new_user(f"Customer {n}") for n in range(customers)]
        for endpoint in ("reply", "push", "profile"):
            platform.slow(endpoint, delay)  # every call takes seconds

        async def ask(n: int, user: str) -> int:
            return await platform.say(user, pairs[n % len(pairs)][0])

        assert await asyncio.gather(*(ask(n, u) for n, u in enumerate(users))) == [200] * customers
        for n, user in enumerate(users):
            await platform.wait_for_text(user, pairs[n % len(pairs)][1], timeout=120)
    # Customers were answered side by side: while LINE held one reply, others were sent.
    # (How long that takes is bench/webhook_load.py's business.)
    assert platform.most_at_once["reply"] + platform.most_at_once["push"] > 1


DESK = "C0DESK"
SATO = "U0SATO"


async def test_an_agents_reply_that_line_never_takes_is_retried_then_reported_in_the_thread(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = FakeSlack("slack-signing-secret")
    await slack.start()
    slack.add_user(SATO, "Sato", "Sato Hanako")
    try:
        settings = make_settings(outbound_retry_seconds=1, channels=slack_on(slack))
        async with line_world(settings) as world:
            slack.app_url = world.app.base_url
            line = world.platform
            user = world.new_user("Hanako")
            await line.say(user, "人と話したい")
            await line.wait_for_text(user, "担当者におつなぎします")
            [escalation] = await slack.wait_for(
                lambda: [p for p in slack.posts(DESK) if "thread_ts" not in p.args],
                what="escalation",
            )
            await slack.click(SATO, escalation, CLAIM)
            await line.wait_for_text(user, "Sato")
            thread = escalation.result["ts"]

            # A blip first: retried with backoff, delivered once.
            line.fail("push", 503, times=1)
            await slack.user_says(SATO, "少々お待ちください", DESK, thread_ts=thread)
            await line.wait_for_text(user, "少々お待ちください")

            # Then LINE is down for longer than the retry window: the agent hears of it.
            line.fail("push", 500, times=1000)
            await slack.user_says(SATO, "ご注文番号を確認しました", DESK, thread_ts=thread)
            [note] = await slack.wait_for(
                lambda: [
                    p
                    for p in slack.posts(DESK, thread)
                    if "delivery_failed" in p.args.get("text", "")
                ],
                what="the failure told in the thread",
                timeout=10,
            )
    finally:
        await slack.stop()
    assert "ご注文番号を確認しました" in note.args["text"]
    assert texts_to(world, user).count("少々お待ちください") == 1
    assert not any("ご注文番号を確認しました" in t for t in texts_to(world, user))


async def test_a_reply_that_went_out_just_before_a_crash_is_not_pushed_again(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings()) as world:
        platform, sender, rt = world.platform, world.app.channel.sender, world.app.runtime
        user = world.new_user()
        event = platform.text(user, "x")
        meta = {
            "reply_token": event["replyToken"],
            "reply_token_at": str(event["timestamp"] / 1000),
            "to": user,
        }
        batch = [
            Outgoing(
                message_id=uuid.uuid4().hex,
                channel="line",
                user_id=user,
                conversation_id="c1",
                reply=Reply(text="一度だけ"),
                meta=meta,
            )
        ]
        await sender.send(batch)
        # The process died after LINE took the reply, before the delivery marker was set.
        async for key in rt.redis.scan_iter(match=f"{rt.keys.prefix}:conv:*:sent:line:*"):
            await rt.redis.delete(key)
        await sender.send(batch)  # the replay
        assert [(s.kind, s.messages[0]["text"]) for s in platform.sent] == [("reply", "一度だけ")]

        # A crash *before* LINE took it: the replay's reply goes out, once.
        other = platform.text(user, "y")
        meta2 = {**meta, "reply_token": other["replyToken"]}
        second = [batch[0].model_copy(update={"message_id": uuid.uuid4().hex, "meta": meta2})]
        await rt.redis.set(
            rt.keys.prefix + f":line:reply_token:{other['replyToken']}",
            call_ids(second)[0],
        )
        await sender.send(second)
        assert [s.kind for s in platform.sent] == ["reply", "reply"]


async def test_an_inbox_handler_waits_out_a_storage_outage_instead_of_dead_lettering(
    redis_client: aioredis.Redis, key_prefix: str, private_redis: PrivateRedis
) -> None:
    from bot.inbox import Inbox
    from bot.inbox_worker import InboxWorker
    from bot.model import Inbound
    from bot.storage import connect

    keys = Keys(key_prefix)
    inbox = Inbox(redis_client, keys, partitions=1)
    storage = connect(private_redis.url)  # what the handler keeps its state in
    attempts: list[str] = []

    async def handle(inbound: Inbound) -> None:
        attempts.append(inbound.event_id)
        if len(attempts) == 7:
            private_redis.start()  # back after more outages than the event has attempts
        await storage.incr(f"{key_prefix}:handled:{inbound.event_id}")

    private_redis.stop()
    await inbox.put(Inbound(event_id="e1", channel="web", user_id="u1", text="hi"))
    worker = InboxWorker(inbox, handle, max_attempts=2, retry_base_seconds=0.01)
    await asyncio.wait_for(worker.run(asyncio.Event(), burst=True), timeout=60)
    assert attempts == ["e1"] * 7, "more outages than attempts, and still handled"
    assert await redis_client.xlen(keys.inbox_dead()) == 0
    assert await storage.get(f"{key_prefix}:handled:e1") == "1"
    await storage.aclose()


class SlowHandler:
    """An inbox handler whose platform answers when the test says, then sends once (past
    the worker's send guard, as every send is)."""

    def __init__(self) -> None:
        self.handling = asyncio.Event()
        self.platform_answered = asyncio.Event()
        self.sent: list[str] = []

    async def __call__(self, inbound: Inbound) -> None:
        self.handling.set()
        await self.platform_answered.wait()
        await clear_to_send()
        self.sent.append(inbound.event_id)


@contextlib.asynccontextmanager
async def working(worker: InboxWorker) -> AsyncIterator[asyncio.Event]:
    """Run `worker` until the block ends or the `stop` it yields is set; then wait for it
    to stop."""
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(running, 120)


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    """The records logged so far whose message starts with `message`."""
    return [r for r in caplog.records if r.getMessage().startswith(message)]


def stops_cut_off(caplog: pytest.LogCaptureFixture) -> list[bool | None]:
    """Whether each worker that stopped so far did so at its cut-off."""
    return [getattr(r, "cut_off", None) for r in logged(caplog, "inbox worker stopped")]


async def test_a_worker_stopping_while_redis_is_down_still_stops_and_leaves_its_event_pending(
    key_prefix: str, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tsunagu.inbox")
    redis = connect(private_redis.url)
    inbox = Inbox(redis, Keys(key_prefix), partitions=1)
    handler, clock, lease = SlowHandler(), SkippingClock(), 6.0
    worker = InboxWorker(
        inbox, handler, lease_seconds=lease, monotonic=clock, shutdown_cut_off_seconds=1.0
    )
    async with working(worker) as stop:
        await inbox.put(Inbound(event_id="e1", channel="web", user_id="u1", text="hi"))
        await asyncio.wait_for(handler.handling.wait(), 30)
        stop.set()
        await eventually(lambda: worker.owned_partitions == [], what="handing back")
        # Redis goes away for good while the handler works on; its platform answers a whole
        # lease after the last renewal: its send waits for a renewal that cannot succeed.
        private_redis.stop()
        clock.skip(lease)
        handler.platform_answered.set()

    assert handler.sent == [], "nothing sent without a sure lease"
    assert stops_cut_off(caplog) == [True]
    private_redis.start()
    assert await inbox.pending_count() == 1, "left pending for the next owner"
    await redis.aclose()


async def test_a_worker_stopping_through_a_redis_outage_finishes_its_handler_before_the_lease(
    key_prefix: str, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tsunagu.inbox")
    async with contextlib.AsyncExitStack() as stack:
        relay = await StallingRelay(port=private_redis.port).start()
        stack.push_async_callback(relay.stop)
        redis = connect(relay.url)
        stack.push_async_callback(redis.aclose)
        inbox = Inbox(redis, Keys(key_prefix), partitions=1)
        handler, clock, lease = SlowHandler(), SkippingClock(), 6.0
        worker = InboxWorker(
            inbox, handler, lease_seconds=lease, monotonic=clock, shutdown_cut_off_seconds=120
        )
        async with working(worker) as stop:
            await inbox.put(Inbound(event_id="e1", channel="web", user_id="u1", text="hi"))
            await asyncio.wait_for(handler.handling.wait(), 30)
            # The shard's reader is in a blocking read when the worker is told to stop, and
            # Redis goes away before it returns: the reader fails instead of draining.
            reading = relay.stall(b"XREADGROUP")
            await asyncio.wait_for(reading.seen.wait(), 30)
            stop.set()
            await eventually(lambda: worker.owned_partitions == [], what="handing back")
            private_redis.stop()
            await eventually(
                lambda: (
                    logged(caplog, "inbox: shard reader failed")
                    or logged(caplog, "inbox worker stopped")
                ),
                what="the shard reader failed",
            )
            # Redis is back; the handler's platform answers a whole lease after the last
            # renewal: its send goes out after the first renewal since.
            private_redis.start()
            clock.skip(lease)
            handler.platform_answered.set()

        assert handler.sent == ["e1"], "finished before the shard was given up"
        assert stops_cut_off(caplog) == [False]
        assert await inbox.pending_count() == 0
        assert await inbox.backlog() == 0
        assert await redis.get(Keys(key_prefix).inbox_lease(0)) is None, "lease freed"


async def test_a_failure_that_is_not_storage_counts_and_is_dead_lettered(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    """A refused connection to anything but Redis (a platform, say) is no storage outage:
    it counts as a failed attempt, so the event is dead-lettered instead of blocking the
    customer's later events for ever."""
    from bot.inbox import Inbox
    from bot.inbox_worker import InboxWorker
    from bot.model import Inbound
    from bot.serving import free_port

    keys = Keys(key_prefix)
    inbox = Inbox(redis_client, keys, partitions=1)
    nobody = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    attempts: list[str] = []

    async def handle(inbound: Inbound) -> None:
        attempts.append(inbound.event_id)
        if inbound.event_id == "e1":
            async with aiohttp.ClientSession() as session:
                await session.get(nobody)  # ConnectionRefusedError: an OSError

    await inbox.put(Inbound(event_id="e1", channel="web", user_id="u1", text="hi"))
    await inbox.put(Inbound(event_id="e2", channel="web", user_id="u1", text="next"))
    worker = InboxWorker(inbox, handle, max_attempts=3, retry_base_seconds=0.01)
    await asyncio.wait_for(worker.run(asyncio.Event(), burst=True), timeout=60)
    assert attempts == ["e1", "e1", "e1", "e2"]
    [(_, dead)] = await redis_client.xrange(keys.inbox_dead())
    assert "e1" in dead["event"] and "Connect" in dead["error"]


async def test_slack_gets_503_while_redis_is_down_and_its_retry_is_answered_once(
    make_settings: Callable[..., Settings], private_redis: PrivateRedis
) -> None:
    fake = FakeSlack("slack-signing-secret")
    await fake.start()
    fake.add_user("U0CUSTOMER", "Tanaka")
    settings = make_settings(redis_url=private_redis.url, inbox_lease_seconds=10.0)
    try:
        async with serve_with_slack(settings, fake) as served:
            event = fake.message_event("U0CUSTOMER", "送料はいくらですか？", "D0CUSTOMER")
            body = fake.event_body(event, "EvOUTAGE0001")
            private_redis.stop()
            during = await fake.deliver(body, "application/json")
            private_redis.start()
            retried = await fake.deliver(body, "application/json", retry_num=1)
            again = await fake.deliver(body, "application/json", retry_num=2)
            await fake.wait_for(
                lambda: [p for p in fake.posts("D0CUSTOMER") if "550" in p.args["text"]],
                what="the answer after the outage",
            )
            await settled(served.runtime.inbox)
            answers = [p for p in fake.posts("D0CUSTOMER") if "550" in p.args["text"]]
    finally:
        await fake.stop()
    assert during.status_code == 503, "Slack retries a 5xx"
    assert (retried.status_code, again.status_code) == (200, 200)
    assert len(answers) == 1

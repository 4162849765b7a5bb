"""Tsunagu on a Redis Cluster (`REDIS_CLUSTER=true`): six local `redis-server` processes,
three masters and three replicas, started and stopped by the tests themselves.

- The bot answers LINE, the web widget and Messenger on the cluster, and the inbox shards
  spread over the masters.
- A master is SIGKILLed in the middle of LINE and widget traffic: its replica takes over,
  the bot keeps answering, nothing acknowledged (a 200 to LINE, a 202 to the widget) is
  lost and nothing is said twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.settings import Settings
from bot.storage import Keys
from channels.messenger.keys import MetaKeys
from channels.messenger.surface import MESSENGER
from tests.cluster import LocalCluster
from tests.conftest import ROOT
from tests.eventually import eventually, settled
from tests.fakes.line_platform import line_world
from tests.faults import WorkerProcess, worker_env
from tests.test_faults import customer, script, story, texts_to
from tests.test_messenger_conversation import meta_world
from tests.webclient import WebCustomer

log = logging.getLogger("tests.cluster")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    """A Redis Cluster of this test alone (3 masters, 3 replicas), stopped afterwards."""
    local = LocalCluster(tmp_path / "cluster")
    try:
        yield local.start()
    finally:
        local.stop()


def test_inbox_shards_take_equal_shares_of_the_slots() -> None:
    from redis.crc import key_slot

    for partitions in (1, 3, 6, 16, 64):
        keys = Keys("tsunagu", partitions)
        for partition in range(partitions):
            slot = key_slot(keys.inbox(partition).encode())
            assert partition * 16384 // partitions <= slot < (partition + 1) * 16384 // partitions
            assert key_slot(keys.inbox_lease(partition).encode()) == slot


async def test_the_bot_answers_line_and_the_widget_on_a_cluster(
    cluster: LocalCluster,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(redis_url=cluster.url, redis_cluster=True, inbox_partitions=6)
    assert settings.replicas_to_wait_for == 1
    async with line_world(settings) as world:
        runtime = world.app.runtime
        shards = Counter(
            cluster.port_of_key(runtime.keys.inbox(p)) for p in range(settings.inbox_partitions)
        )
        assert sorted(shards.values()) == [2, 2, 2], "two shards on each master"

        user = world.new_user()
        assert await world.platform.say(user, "送料はいくらですか？") == 200
        answer = (await world.platform.wait_for_messages(user, 1))[0]
        assert "550" in answer["text"]
        assert {s.kind for s in world.platform.sent} == {"reply"}

        async with httpx.AsyncClient(base_url=world.app.base_url, timeout=15) as http:
            web = await WebCustomer.start(http)
            await web.next_from("bot")
            assert (await web.say("How much is shipping?")).status_code == 202
            assert "550 yen" in (await web.next_from("bot"))["text"]
        await settled(runtime.inbox)
        # The customer's keys live in one slot, on the master the client sends them to.
        customer_key = f"line:{user}"
        ports = {cluster.port_of_key(runtime.keys.conversation(customer_key))}
        ports.add(cluster.port_of_key(runtime.keys.transcript(customer_key)))
        assert len(ports) == 1
        # Its event is marked applied, in its slot, apart from the shard's acknowledgement.
        pattern = runtime.keys.event(customer_key, "*")
        marked = [
            await runtime.redis.hget(key, "applied")
            async for key in runtime.redis.scan_iter(match=pattern)
        ]
        assert marked == ["1"]


async def test_the_bot_answers_messenger_on_a_cluster(
    cluster: LocalCluster, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(redis_url=cluster.url, redis_cluster=True, inbox_partitions=6)
    async with meta_world(settings, MESSENGER) as world:
        runtime, platform = world.runtime, world.platform
        user = world.new_customer()
        assert await platform.say(user, "送料はいくらですか？") == 200
        # Sent as a response: the window the webhook recorded with the events was there.
        answer = await platform.wait_for_text(user, "550")
        assert answer.messaging_type == "RESPONSE"
        await settled(runtime.inbox)
        # The window is one of the customer's own keys, in their slot.
        window = MetaKeys(runtime.keys, MESSENGER.name).last_message(user)
        assert await runtime.redis.get(window) is not None
        state = runtime.keys.conversation(world.key(user))
        assert cluster.port_of_key(window) == cluster.port_of_key(state)


async def web_customer(
    web: WebCustomer, questions: list[str], statuses: list[int], deadline: float
) -> None:
    """A widget customer asking `questions` one after another; a message the server did not
    accept (503 while a slot has no master, or no answer at all) is sent again with the same
    client id, as the widget does."""
    for question in questions:
        client_id = uuid.uuid4().hex
        while True:
            try:
                status = (await web.say(question, client_id=client_id)).status_code
            except httpx.HTTPError:
                status = 0
            statuses.append(status)
            if status == 202:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"message never accepted (last status {status})")
            await asyncio.sleep(0.2)


async def web_stream(web: WebCustomer) -> list[dict[str, Any]]:
    """Everything in the customer's message stream, read afresh (a 503 reads as nothing)."""
    response = await web.http.get("/web/messages", headers=web.auth)
    if response.status_code != 200:
        return []
    return list(response.json()["messages"])


async def test_a_master_killed_mid_traffic_loses_nothing_and_says_nothing_twice(
    cluster: LocalCluster,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fault_seed: int,
) -> None:
    line_customers, web_customers, per_customer, partitions = 18, 6, 12, 6
    settings = make_settings(
        redis_url=cluster.url,
        redis_cluster=True,
        run_worker=False,  # this process answers webhooks; the workers run apart
        inbox_partitions=partitions,
        ask_if_solved=False,
        web_rate_limit_per_minute=10_000,  # the widget customers write fast here
        web_ip_rate_limit_per_minute=10_000,
    )
    chance = random.Random(fault_seed)
    line_total = line_customers * per_customer
    web_total = web_customers * per_customer
    kill_at = chance.randrange((line_total + web_total) // 4, (line_total + web_total) // 2)
    victim = chance.choice(cluster.master_ports())
    successor = cluster.replica_of(victim)
    token_life = 600.0  # replays stay replies (tests/test_faults.py says why)
    async with line_world(settings) as world:
        platform = world.platform
        platform.reply_token_ttl = token_life
        env = worker_env(
            redis_url=cluster.url,
            redis_cluster="true",
            key_prefix=settings.key_prefix,
            faq_dir=str(ROOT / "faq_data"),
            faq_watch="false",
            secret_key="test-secret",
            inbox_partitions=str(partitions),
            ask_if_solved="false",
            line_channel_secret=platform.channel_secret,
            line_channel_access_token=platform.access_token,
            line_api_base_url=platform.base_url,
            line_data_api_base_url=platform.base_url,
            line_reply_token_ttl_seconds=str(token_life - 10),
        )
        workers = [WorkerProcess(env, tmp_path / f"worker{n}.log") for n in range(2)]
        pairs = script(world)
        users = [world.new_user(f"Customer {n}") for n in range(line_customers)]
        asked = {
            who: [pairs[(n + offset) % len(pairs)] for n in range(per_customer)]
            for offset, who in enumerate(users)
        }
        line_statuses: list[int] = []
        web_statuses: list[int] = []
        killed_after: list[int] = []
        taken_over: list[int] = []
        rejoined: list[int] = []

        def accepted() -> int:
            return line_statuses.count(200) + web_statuses.count(202)

        async def killer() -> None:
            await eventually(lambda: accepted() >= kill_at, timeout=120, what="traffic")
            cluster.kill(victim)
            killed_after.append(accepted())
            await eventually(
                lambda: successor in cluster.master_ports(), timeout=60, what="the failover"
            )
            taken_over.append(accepted())
            # Its supervisor starts the dead node again: it rejoins as the new master's
            # replica, and writes to those slots are acknowledged once it has them.
            await asyncio.to_thread(cluster.restart, victim)
            rejoined.append(accepted())

        http = httpx.AsyncClient(base_url=world.app.base_url, timeout=15)
        try:
            webs = [await WebCustomer.start(http) for _ in range(web_customers)]
            web_asked = {
                web.user_id: [pairs[(n + offset) % len(pairs)] for n in range(per_customer)]
                for offset, web in enumerate(webs)
            }
            for worker in workers:
                await worker.start()
            began = time.monotonic()
            deadline = began + 180  # a generous bound on being stuck, not on speed
            killing = asyncio.create_task(killer())
            await asyncio.gather(
                *(
                    customer(world, who, [q for q, _ in asked[who]], line_statuses, deadline)
                    for who in users
                ),
                *(
                    web_customer(web, [q for q, _ in web_asked[w]], web_statuses, deadline)
                    for web, w in ((web, web.user_id) for web in webs)
                ),
            )
            await killing
            await eventually(
                lambda: len(platform.sent) >= line_total, timeout=120, what="LINE answered"
            )

            async def web_answered() -> bool:
                for web in webs:
                    bot = [m for m in await web_stream(web) if m["sender"] == "bot"]
                    if len(bot) < per_customer + 1:  # the greeting, then one answer each
                        return False
                return True

            await eventually(web_answered, timeout=120, what="the widget answered")
            await settled(world.app.runtime.inbox, timeout=60)
            streams = {web.user_id: await web_stream(web) for web in webs}
            masters_after = cluster.master_ports()
            successor_role = cluster.role_of(successor)
            victim_role = cluster.role_of(victim)
            dead = await world.app.runtime.redis.xlen(world.app.runtime.keys.inbox_dead())
        finally:
            await http.aclose()
            for worker in workers:
                await worker.stop()

        log.warning(
            "cluster fault test: master %d killed after %s accepted, replaced after %s, "
            "back as a replica after %s; statuses %s; %.1fs",
            victim,
            killed_after,
            taken_over,
            rejoined,
            Counter(line_statuses + web_statuses),
            time.monotonic() - began,
        )
        assert killed_after and killed_after[0] < line_total + web_total, "killed mid-traffic"
        assert successor in masters_after and successor_role == "master", "its replica took over"
        assert victim_role == "slave", "the dead master came back as a replica"
        assert line_statuses.count(200) == line_total
        assert web_statuses.count(202) == web_total
        for who in users:
            assert texts_to(world, who) == [a for _, a in asked[who]], story(world, who)
        assert len(platform.sent) == line_total, "no LINE reply was sent twice"
        for web in webs:
            stream = streams[web.user_id]
            said = [m["text"] for m in stream if m["sender"] == "customer"]
            answers = [m["text"] for m in stream if m["sender"] == "bot"][1:]
            assert said == [q for q, _ in web_asked[web.user_id]], "each message once, in order"
            assert answers == [a for _, a in web_asked[web.user_id]], "each answered once"
        assert dead == 0

"""The web widget's live delivery on a Redis Cluster: a customer's WebSocket, held by the
web process, brings a message another process appends (the agent console, a worker) as
soon as it is there, through the pub/sub notifier; without it the socket would only find
the message on its next look at the stream, after a keep-alive ping. When the node the
notifier listens on dies, it subscribes on another one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import websockets

from bot.errors import StorageUnavailable
from bot.settings import Settings
from bot.storage import connect
from channels.web.adapter import WebChannel
from channels.web.outbox import WebMessage, WebOutbox
from channels.web.router import web_customer_key
from channels.web.settings import NAME
from tests.cluster import LocalCluster
from tests.eventually import eventually
from tests.webclient import WebCustomer


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    """A Redis Cluster of this test alone (3 masters, 3 replicas), stopped afterwards."""
    local = LocalCluster(tmp_path / "cluster")
    try:
        yield local.start()
    finally:
        local.stop()


async def next_frame_after_append(
    socket: Any,
    console: WebOutbox,
    readers: Callable[[], int],
    key: str,
    sender: Literal["agent", "bot"],
) -> None:
    """Append a message once the socket waits; its next frame must be that message, not the
    keep-alive ping a socket sends when its wait runs out (and only then looks again)."""
    await eventually(lambda: readers() == 1, what="the socket waits")
    text = f"A word from the {sender}."
    said = WebMessage(message_id=uuid.uuid4().hex, sender=sender, text=text)
    assert await console.append(key, said)
    frame = json.loads(await socket.recv())
    assert frame["type"] == "message", frame
    assert (frame["message"]["sender"], frame["message"]["text"]) == (sender, text)


def subscribers(cluster: LocalCluster, channel: str) -> dict[int, int]:
    """The notify channel's subscribers on each live node, by port."""
    return {
        node.port: int(node.client().execute_command("PUBSUB", "NUMSUB", channel)[1])
        for node in cluster.live_nodes()
    }


async def test_the_notifier_subscribes_again_when_its_node_dies(
    cluster: LocalCluster,
    make_settings: Callable[..., Settings],
    serve_app: Callable[[Settings], Any],
) -> None:
    settings = make_settings(redis_url=cluster.url, redis_cluster=True, run_worker=False)
    web_process = await serve_app(settings)
    web = web_process.runtime.channel(NAME)
    assert isinstance(web, WebChannel)
    channel = web_process.runtime.keys.channel(NAME, "notify")
    other = connect(settings.redis_url, cluster=True)
    console = WebOutbox(other, web_process.runtime.keys, ttl_seconds=600)
    try:
        async with httpx.AsyncClient(base_url=web_process.base_url, timeout=60) as http:
            customer = await WebCustomer.start(http)
        await other.initialize()  # maps the cluster while the node it was given still runs
        listening = await eventually(
            lambda: [port for port, n in subscribers(cluster, channel).items() if n],
            what="the web process subscribes",
        )
        cluster.kill(listening[0])

        def every_slot_served() -> bool:
            # Every master alive (a replica promoted in place of the node, if it was one).
            live = {node.port for node in cluster.live_nodes()}
            masters = cluster.master_ports()
            return len(masters) == cluster.masters and set(masters) <= live

        await eventually(every_slot_served, what="every slot has a live master")
        key = web_customer_key(customer.user_id)

        async def served() -> bool:
            # Both processes' clients have caught up with the failover (a client maps the
            # cluster afresh when a node fails it, and may drop its connections then).
            try:
                for redis in (other, web_process.runtime.redis):
                    await redis.exists(web_process.runtime.keys.web_outbox(key))
            except StorageUnavailable:
                return False
            return True

        await eventually(served, what="the customer's slot is served")
        await eventually(
            lambda: sum(subscribers(cluster, channel).values()) == 1,
            what="the web process subscribes on another node",
        )
        ws_url = web_process.base_url.replace("http", "ws") + f"/web/ws?token={customer.token}"
        async with websockets.connect(ws_url) as socket:
            await next_frame_after_append(
                socket, console, lambda: web.outbox.readers(key), key, "agent"
            )
    finally:
        await other.aclose()


async def test_a_websocket_brings_agent_and_bot_messages_from_another_process_at_once(
    cluster: LocalCluster,
    make_settings: Callable[..., Settings],
    serve_app: Callable[[Settings], Any],
) -> None:
    settings = make_settings(redis_url=cluster.url, redis_cluster=True, run_worker=False)
    web_process = await serve_app(settings)
    web = web_process.runtime.channel(NAME)
    assert isinstance(web, WebChannel)
    # Another process's view of the same streams: its own cluster client and notifier.
    other = connect(settings.redis_url, cluster=True)
    console = WebOutbox(other, web_process.runtime.keys, ttl_seconds=600)
    try:
        async with httpx.AsyncClient(base_url=web_process.base_url, timeout=60) as http:
            customer = await WebCustomer.start(http)
        key = web_customer_key(customer.user_id)
        ws_url = web_process.base_url.replace("http", "ws") + f"/web/ws?token={customer.token}"
        async with websockets.connect(ws_url) as socket:
            senders: tuple[Literal["agent", "bot"], ...] = ("agent", "bot")
            for sender in senders:
                await next_frame_after_append(
                    socket, console, lambda: web.outbox.readers(key), key, sender
                )
    finally:
        await other.aclose()

"""The web widget's live delivery on a Redis Cluster: a customer's WebSocket, held by the
web process, brings a message another process appends (the agent console, a worker) as
soon as it is there, through the pub/sub notifier; without it the socket would only find
the message on its next look at the stream, after a keep-alive ping.
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
                # The socket has read the (empty) stream and waits for news.
                await eventually(lambda: web.outbox.readers(key) == 1, what="the socket waits")
                text = f"A word from the {sender}."
                said = WebMessage(message_id=uuid.uuid4().hex, sender=sender, text=text)
                assert await console.append(key, said)
                # The next frame is the message itself, not the keep-alive ping a socket
                # sends when its wait runs out (and only then looks at the stream again).
                frame = json.loads(await socket.recv())
                assert frame["type"] == "message", frame
                assert (frame["message"]["sender"], frame["message"]["text"]) == (sender, text)
    finally:
        await other.aclose()

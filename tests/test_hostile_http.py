"""What an attacker can send over HTTP and WebSocket, and the clear refusal each gets.

The real app on a loopback port, real Redis, real clients (httpx, websockets, raw sockets).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from tests.conftest import RunningApp
from tests.webclient import WebCustomer

MAX_ID = 2**64 - 1
BAD_CURSORS = [
    "99999999999999999999-0",
    "1-99999999999999999999",
    f"{MAX_ID + 1}-0",
    f"{MAX_ID}-{MAX_ID + 1}",
    "1-",
    "-1-0",
    "１-0",  # a full-width digit
]


@pytest.fixture
async def http(app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as client:
        yield client


# -- cursors ---------------------------------------------------------------------------


async def test_out_of_range_cursors_get_400_and_the_largest_one_reads_nothing(
    http: httpx.AsyncClient,
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    for cursor in BAD_CURSORS:
        response = await http.get("/web/messages", params={"after": cursor}, headers=customer.auth)
        assert response.status_code == 400, (cursor, response.status_code, response.text)
        assert "after" in response.text
    last = await http.get(
        "/web/messages", params={"after": f"{MAX_ID}-{MAX_ID}"}, headers=customer.auth
    )
    assert last.status_code == 200 and last.json()["messages"] == []


async def test_a_websocket_with_a_bad_cursor_is_closed_with_1008(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await WebCustomer.start(http)
    base = app.base_url.replace("http", "ws") + f"/web/ws?token={customer.token}"
    for cursor in BAD_CURSORS:
        async with websockets.connect(f"{base}&after={cursor}") as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None, cursor
        assert closed.value.rcvd.code == 1008 and "after" in closed.value.rcvd.reason

"""What an attacker can send over HTTP and WebSocket, and the clear refusal each gets.

The real app on a loopback port, real Redis, real clients (httpx, websockets, raw sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets

from bot.settings import Settings
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


# -- connections -----------------------------------------------------------------------


async def closed_with(socket: websockets.ClientConnection) -> tuple[int, str]:
    """The close code and reason the server sent (waits for the close)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_websockets_are_capped_per_customer_and_per_address(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(make_settings(web_ws_per_customer=3, web_ws_per_ip=5))
    async with (
        contextlib.AsyncExitStack() as stack,
        httpx.AsyncClient(base_url=running.base_url) as http,
    ):
        alice, bob, carol = [await WebCustomer.start(http) for _ in range(3)]
        base = running.base_url.replace("http", "ws") + "/web/ws?token="

        async def connect(customer: WebCustomer) -> websockets.ClientConnection:
            socket = await stack.enter_async_context(websockets.connect(base + customer.token))
            return socket

        async def first_frame(socket: websockets.ClientConnection) -> dict[str, Any]:
            return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))

        alices = [await connect(alice) for _ in range(3)]
        for socket in alices:
            assert (await first_frame(socket))["type"] == "message", "the first three stream"
        code, reason = await closed_with(await connect(alice))
        assert code == 1008 and "for this customer (at most 3)" in reason

        await alices[0].close()
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # the server counts the closed one out as soon as it sees the close
            again = await connect(alice)
            try:
                assert (await first_frame(again))["type"] == "message"
                break
            except websockets.ConnectionClosed:
                assert asyncio.get_running_loop().time() < deadline, "never counted out"
                await asyncio.sleep(0.05)

        bobs = [await connect(bob) for _ in range(2)]  # the address holds 5 now
        for socket in bobs:
            assert (await first_frame(socket))["type"] == "message"
        code, reason = await closed_with(await connect(carol))
        assert code == 1008 and "from this address (at most 5)" in reason


async def test_a_request_head_that_never_finishes_is_closed(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(make_settings(header_timeout_seconds=1.0))
    host, port = running.base_url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()

    # Slow headers: a byte now and then never pushes the deadline back.
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = loop.time()
    closed_after = None
    for _ in range(100):
        try:
            writer.write(b"X")
            await writer.drain()
            if await asyncio.wait_for(reader.read(100), 0.2) == b"":
                closed_after = loop.time() - started
                break
        except TimeoutError:
            continue
        except ConnectionError:
            closed_after = loop.time() - started
            break
    writer.close()
    assert closed_after is not None and closed_after < 5, "closed about a second in"

    # A connection that says nothing at all.
    reader, writer = await asyncio.open_connection(host, int(port))
    assert await asyncio.wait_for(reader.read(100), 5) == b""
    writer.close()

    # Whole requests on a kept-alive connection are untouched.
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        for _ in range(3):
            assert (await http.get("/healthz")).status_code == 200


# -- bodies ----------------------------------------------------------------------------


async def post_chunked(base_url: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """POST `body` in 16 KiB chunks over a raw connection, as a client that goes on
    sending whatever the server says; returns the response as far as it came."""
    url = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: application/json\r\n{head}\r\n".encode()
    )
    with contextlib.suppress(ConnectionError):
        for start in range(0, len(body), 16384):
            chunk = body[start : start + 16384]
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return response


async def test_a_chunked_body_over_the_limit_is_413_on_the_web_api(
    http: httpx.AsyncClient, app: RunningApp
) -> None:
    customer = await WebCustomer.start(http)
    limit = app.runtime.settings.max_body_bytes
    huge = json.dumps({"text": "x" * 2 * limit, "client_id": "c1"}).encode()
    for path, headers in (("/web/messages", customer.auth), ("/web/conversations", {})):
        response = await post_chunked(app.base_url, path, huge, headers)
        status_line, _, rest = response.partition(b"\r\n")
        assert b" 413 " in status_line, (path, response[:300])
        assert b"too large" in rest
    assert not [m for m in await customer.poll() if m["sender"] == "customer"]


# -- operations endpoints --------------------------------------------------------------


async def test_production_hides_the_docs_and_metrics_need_their_token(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    async def statuses(**settings: Any) -> dict[str, int]:
        running: RunningApp = await serve_app(make_settings(**settings))
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            return {
                path: (await client.get(path, headers=headers)).status_code
                for path, headers in (
                    ("/docs", {}),
                    ("/openapi.json", {}),
                    ("/metrics", {}),
                    ("/metrics#right", {"Authorization": "Bearer m-token"}),
                    ("/metrics#wrong", {"Authorization": "Bearer nope"}),
                )
            }

    development = await statuses()
    assert development == dict.fromkeys(development, 200), "open while developing"
    production = await statuses(environment="production")
    assert production == dict.fromkeys(production, 404), "nothing of it in production"
    guarded = await statuses(environment="production", metrics_token="m-token", api_docs=True)
    assert guarded == {
        "/docs": 200,
        "/openapi.json": 200,
        "/metrics": 401,
        "/metrics#right": 200,
        "/metrics#wrong": 401,
    }

"""The Redis connection pool and connection of `bot.storage`, on the real test Redis: a
bounded pool that waits for a free connection, and connections that recover from a peer
that closed them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from bot.errors import StorageUnavailable
from bot.storage import StorageClient, StorageConnection, StoragePool, connect
from tests.conftest import REDIS_URL
from tests.eventually import eventually


def _client(
    max_connections: int, timeout: float = 5, name: str | None = None, socket_timeout: float = 5
) -> StorageClient:
    pool = StoragePool.from_url(
        REDIS_URL,
        connection_class=StorageConnection,
        decode_responses=True,
        max_connections=max_connections,
        timeout=timeout,
        client_name=name,
        socket_timeout=socket_timeout,
    )
    return StorageClient(connection_pool=pool)


def _opened(client: StorageClient) -> int:
    pool = client.connection_pool
    return len(pool._available_connections) + len(pool._in_use_connections)


@pytest.fixture
async def key(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    name = f"test-pool-{uuid.uuid4().hex}"
    yield name
    await redis_client.delete(name)


async def test_the_server_client_uses_the_storage_pool_and_connection() -> None:
    client = connect(REDIS_URL, max_connections=3)
    try:
        assert isinstance(client.connection_pool, StoragePool)
        assert client.connection_pool.connection_class is StorageConnection
        assert await client.ping()
    finally:
        await client.aclose()


async def test_commands_beyond_the_bound_wait_for_a_connection(
    redis_client: aioredis.Redis, key: str
) -> None:
    client = _client(max_connections=2)
    try:
        # Three blocking pops on two connections: the third waits for one to be released.
        pops = [asyncio.create_task(client.blpop([key], timeout=0)) for _ in range(3)]
        await eventually(lambda: len(client.connection_pool._waiters) == 1)
        assert _opened(client) == 2
        await redis_client.rpush(key, "a", "b", "c")
        got = sorted(str(item[1]) for item in await asyncio.gather(*pops) if item)
        assert got == ["a", "b", "c"]
        assert _opened(client) == 2
    finally:
        await client.aclose()


async def test_a_pool_exhausted_longer_than_its_timeout_is_storage_unavailable(
    redis_client: aioredis.Redis, key: str
) -> None:
    client = _client(max_connections=1, timeout=0.2)
    try:
        held = asyncio.create_task(client.blpop([key], timeout=0))
        await eventually(lambda: len(client.connection_pool._in_use_connections) == 1)
        with pytest.raises(StorageUnavailable):
            await client.get(key)
        await redis_client.rpush(key, "x")
        assert await held is not None
        # The pool serves again once the connection is back.
        assert await client.get(key) is None
    finally:
        await client.aclose()


async def test_a_cancelled_wait_hands_the_released_connection_on(
    redis_client: aioredis.Redis, key: str
) -> None:
    client = _client(max_connections=1)
    try:
        held = asyncio.create_task(client.blpop([key], timeout=0))
        await eventually(lambda: len(client.connection_pool._in_use_connections) == 1)
        cancelled = asyncio.create_task(client.get(key))
        waiting = asyncio.create_task(client.incr(f"{key}:n"))
        await eventually(lambda: len(client.connection_pool._waiters) == 2)
        cancelled.cancel()
        await redis_client.rpush(key, "x")
        assert await held is not None
        assert await waiting == 1
        assert cancelled.cancelled()
    finally:
        await redis_client.delete(f"{key}:n")
        await client.aclose()


async def test_a_connection_the_server_closed_is_replaced(redis_client: aioredis.Redis) -> None:
    client = _client(max_connections=1)
    try:
        first = await client.client_id()
        await redis_client.client_kill_filter(_id=first)
        # The idle connection's peer is gone: the next command gets a fresh connection
        # (or fails with StorageUnavailable once, as a dropped connection always could).
        try:
            second = await client.client_id()
        except StorageUnavailable:
            second = await client.client_id()
        assert second != first
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_large_command_is_written_whole(key: str) -> None:
    client = _client(max_connections=1)
    try:
        # Larger than a socket's buffer: the write waits for the transport to drain.
        value = "x" * 8_000_000
        await client.set(key, value)
        assert await client.strlen(key) == len(value)
    finally:
        await client.aclose()


async def test_commands_are_packed_in_one_buffer_each_and_read_back_as_written(
    key: str,
) -> None:
    """Each command, and each pipeline, is one buffer, even with a large value; what is
    stored is what redis-py's own packer would have sent."""
    connection = StorageConnection()
    values: list[Any] = ["送料は550円", b"\x00\xffbytes", 42, 2.5, "", "y" * 100_000]
    command = ("HSET", key, *[part for n, v in enumerate(values) for part in (f"f{n}", v)])
    assert len(connection.pack_command(*command)) == 1
    assert len(connection.pack_commands([command, ("HGETALL", key)])) == 1
    redis_pys = Connection()
    for packed in (command, ("CONFIG GET", "maxmemory"), ("SET", key, memoryview(b"v"))):
        assert b"".join(connection.pack_command(*packed)) == b"".join(
            redis_pys.pack_command(*packed)
        )

    client = _client(max_connections=1)
    raw = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.execute_command(*command)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hget(key, "f0")
            pipe.hget(key, "f5")
            first, large = await pipe.execute()
        assert (first, large) == ("送料は550円", "y" * 100_000)
        stored = await raw.hgetall(key)
        assert [stored[f"f{n}".encode()] for n in range(len(values))] == [
            "送料は550円".encode(),
            b"\x00\xffbytes",
            b"42",
            b"2.5",
            b"",
            b"y" * 100_000,
        ]
        assert await client.execute_command("CONFIG GET", "maxmemory") is not None
    finally:
        await client.aclose()
        await raw.aclose()


async def test_a_command_whose_connection_drops_is_sent_again(
    redis_client: aioredis.Redis, key: str
) -> None:
    # Named, so that another client blocked in BLPOP on the shared server is not taken for it.
    client = _client(max_connections=2, name=key)

    async def blocked_on() -> list[int]:
        return [
            int(c["id"])
            for c in await redis_client.client_list()
            if c["cmd"] == "blpop" and c["name"] == key
        ]

    try:
        pop = asyncio.create_task(client.blpop([key], timeout=0))
        (blocked,) = await eventually(blocked_on)
        await redis_client.client_kill_filter(_id=blocked)
        # Sent again on another connection, as redis-py's own retry would.
        await eventually(lambda: _other_than(blocked, blocked_on))
        await redis_client.rpush(key, "x")
        assert list(await pop) == [key, "x"]
    finally:
        await client.aclose()


async def _other_than(killed: int, blocked_on: Callable[[], Awaitable[list[int]]]) -> bool:
    return any(id_ != killed for id_ in await blocked_on())


async def test_a_pipeline_reads_every_answer_in_order_with_errors_in_place(key: str) -> None:
    client = _client(max_connections=2)
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(key, "1")
            pipe.incr(key)
            pipe.hgetall(key)  # the wrong type: an error in its place, the rest answered
            pipe.get(key)
            done, incremented, wrong, value = await pipe.execute(raise_on_error=False)
        assert (done, incremented, value) == (True, 2, "2")
        assert isinstance(wrong, ResponseError)
    finally:
        await client.aclose()


async def test_a_pipeline_whose_answer_never_comes_is_storage_unavailable(key: str) -> None:
    # The pipeline's answers share one socket timeout; the blocked pop outlasts it.
    client = _client(max_connections=1, socket_timeout=0.3)
    try:
        with pytest.raises(StorageUnavailable):
            async with client.pipeline(transaction=False) as pipe:
                pipe.ping()
                pipe.blpop([key], timeout=5)
                await pipe.execute()
        # The interrupted connection was dropped: the next pipeline reads its own answers.
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(key, "after")
            pipe.get(key)
            assert await pipe.execute() == [True, "after"]
    finally:
        await client.aclose()

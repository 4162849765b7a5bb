"""Shared fixtures: a real Redis, settings isolated per test, the app on a real port."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TSUNAGU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client of the real test Redis (fails loudly if there is none)."""
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"the tests need a Redis server at {REDIS_URL}: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def key_prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    async for key in redis_client.scan_iter(match=f"{prefix}:*", count=1000):
        await redis_client.delete(key)


@pytest.fixture
def make_settings(key_prefix: str) -> Callable[..., Settings]:
    """Settings on the real Redis with this test's prefix; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "redis_url": REDIS_URL,
            "key_prefix": key_prefix,
            "faq_dir": ROOT / "faq_data",
            "faq_watch": False,
            "secret_key": "test-secret",
            "inbox_partitions": 4,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default test settings."""
    return make_settings()


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A started runtime with its inbox worker, not serving HTTP."""
    rt = Runtime(settings)
    await rt.start(run_worker=True)
    yield rt
    await rt.stop()
    await rt.redis.aclose()


class RunningApp:
    """The app served by uvicorn on a loopback port, inside the test's event loop."""

    def __init__(self, runtime: Runtime, base_url: str):
        self.runtime = runtime
        self.base_url = base_url


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[Settings], Any]]:
    """Start the real app on a free port; stopped at the end of the test."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], Runtime]] = []

    async def start(settings: Settings) -> RunningApp:
        rt = Runtime(settings)
        app = create_app(settings, runtime=rt)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("the app did not start")
        servers.append((server, task, rt))
        return RunningApp(rt, f"http://127.0.0.1:{port}")

    yield start
    for server, task, rt in servers:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)
        await rt.redis.aclose()


@pytest.fixture
async def app(serve_app: Callable[[Settings], Any], settings: Settings) -> RunningApp:
    """The app with default test settings."""
    running: RunningApp = await serve_app(settings)
    return running

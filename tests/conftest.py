"""Shared fixtures: a real Redis, settings isolated per test, the app on a real port."""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import settings as hypothesis_settings

from bot.composition.app import create_app
from bot.composition.runtime import Runtime
from bot.serving import serve_in_loop
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Hypothesis: random examples while developing; in CI (HYPOTHESIS_PROFILE=ci) the same
# examples on every run, so a failure there fails again here. Either way a failure prints
# the example and a @reproduce_failure blob.
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REDIS_URL = os.environ.get("TSUNAGU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
def fault_seed(request: pytest.FixtureRequest) -> int:
    """The seed of a test's random faults: `TSUNAGU_FAULT_SEED` if set, else a fresh one.

    A failing test's report shows it, so the same faults can be played again.
    """
    given = os.environ.get("TSUNAGU_FAULT_SEED")
    seed = int(given) if given else random.randrange(1_000_000)
    request.node.add_report_section(
        "call", "fault seed", f"TSUNAGU_FAULT_SEED={seed} repeats these faults\n"
    )
    return seed


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
    async with contextlib.AsyncExitStack() as stack:

        async def start(settings: Settings) -> RunningApp:
            rt = Runtime(settings)
            stack.push_async_callback(rt.redis.aclose)
            base_url = await stack.enter_async_context(
                serve_in_loop(create_app(settings, runtime=rt))
            )
            return RunningApp(rt, base_url)

        yield start


@pytest.fixture
async def app(serve_app: Callable[[Settings], Any], settings: Settings) -> RunningApp:
    """The app with default test settings."""
    running: RunningApp = await serve_app(settings)
    return running

"""The pure layer: no server, no Redis, no network. Everything here runs in-process.

A part that would talk to Redis is given a client pointed at a closed port, so a test that
reaches for storage fails loudly instead of quietly needing a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.clock import FixedClock
from bot.faq import FaqLibrary
from bot.flow import Flow
from bot.settings import Settings
from bot.storage import Keys
from bot.texts import Texts
from handoff.queue import RedisHandoffQueue

ROOT = Path(__file__).resolve().parents[2]
# 2026-06-03 10:00 in Tokyo, a Wednesday: inside the default business hours.
NOON_ISH = 1_780_448_400.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/pure is in the `pure` layer."""
    for item in items:
        if Path(str(item.path)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.pure)


def unreachable_redis() -> Redis:
    """A client that fails at its first command: nothing here may need storage."""
    return Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1)


@pytest.fixture(scope="session")
def faq() -> FaqLibrary:
    """The sample FAQ, loaded once for the whole pure layer."""
    settings = Settings(_env_file=None, faq_dir=ROOT / "faq_data")  # type: ignore[call-arg]
    return FaqLibrary(settings.faq_dir, settings.match_settings())


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOON_ISH)


@pytest.fixture
def flow(faq: FaqLibrary, clock: FixedClock) -> Flow:
    """The real flow on the sample FAQ, with a handoff queue that must not be reached."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    texts = Texts.from_file(None, shop=settings.shop_name)
    queue = RedisHandoffQueue(unreachable_redis(), Keys("pure"))
    return Flow(faq, texts, queue, settings.flow_config(), clock=clock)

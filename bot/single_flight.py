"""One look-up per key at a time, waited for at most a while.

A platform's profile look-up must never hold a customer's answer up for long, and many
events of one customer arriving together must not each ask the platform again: the first
caller starts the look-up, later callers share it, and a caller that stops waiting leaves
it running so that a late answer still lands where it is kept (a cache) for next time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Shares one running task per key among the callers that wait for it."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    async def wait(self, key: str, start: Callable[[], Awaitable[T]], timeout: float) -> T | None:
        """The result of the task for `key` (started with `start()` if none runs) if it
        ends within `timeout` seconds, else None; the task goes on either way."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(start())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        if timeout <= 0:
            return None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        return None

    async def close(self) -> None:
        """Cancel the tasks still running and wait until they have stopped."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

"""Waiting in tests without fixed sleeps: poll a condition until it holds, or fail saying what.

`eventually` is for things that happen in the background (a worker handling an event, a
fake platform receiving a push). Its deadline is generous on purpose: it is not a speed
limit (speed lives in `bench/`), only how long to wait before calling the test stuck. To
prove that something did *not* happen, settle first (`settled`: every event in the inbox
handled), then look once.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.inbox import Inbox

DEFAULT_TIMEOUT = 30.0
_POLL_SECONDS = 0.02


async def eventually(
    condition: Callable[[], Any | Awaitable[Any]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    what: str | None = None,
) -> Any:
    """Poll `condition` (plain or async) until it returns something truthy; return that.

    Fails the test after `timeout` seconds, naming `what` (or the condition) and the last
    value it returned, or re-raising the last `AssertionError` it raised.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    last_error: AssertionError | None = None
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            last, last_error = value, None
        except AssertionError as exc:
            last_error = exc
        if time.monotonic() > deadline:
            name = what or getattr(condition, "__qualname__", repr(condition))
            if last_error is not None:
                raise AssertionError(f"not so after {timeout:.0f}s: {name}") from last_error
            raise AssertionError(f"not so after {timeout:.0f}s: {name} (last: {last!r})")
        await asyncio.sleep(_POLL_SECONDS)


async def settled(inbox: Inbox, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until every event put in `inbox` so far has been handled (or dead-lettered)."""

    async def empty() -> bool:
        return await inbox.backlog() == 0

    await eventually(empty, timeout=timeout, what="the inbox is settled")

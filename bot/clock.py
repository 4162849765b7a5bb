"""The clock every part asks for the time: the system's in service, a fixed one in tests.

Behaviour that depends on the wall clock (when a conversation started, business hours,
the survey cooldown, idle timers, record retention, a report's "last N days", how old a
LINE reply token is) reads it from one `Clock` per runtime, so a test can run it at any
instant: just before midnight in Tokyo, on 29 February, on a public holiday. Durations
that only measure elapsed time (backoff, leases between processes) use `time.monotonic()`
or the system clock directly.
"""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Where the time comes from."""

    def now(self) -> float:
        """The current time, in epoch seconds."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        """`time.time()`."""
        return time.time()


class FixedClock:
    """A clock that stands still until it is set or advanced (for tests and replays)."""

    def __init__(self, at: float | datetime):
        self._at = _seconds(at)

    def now(self) -> float:
        """The instant the clock was set to."""
        return self._at

    def set(self, at: float | datetime) -> None:
        """Move the clock to `at` (epoch seconds, or an aware datetime)."""
        self._at = _seconds(at)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self._at += seconds


SYSTEM_CLOCK = SystemClock()


def now_in(clock: Clock, tz: tzinfo) -> datetime:
    """The clock's time as an aware datetime in `tz`."""
    return datetime.fromtimestamp(clock.now(), tz)


def _seconds(at: float | datetime) -> float:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a FixedClock needs an aware datetime (with a time zone)")
        return at.timestamp()
    return float(at)

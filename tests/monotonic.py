"""A monotonic clock a test moves forward: time passing for a worker's leases without the
test sleeping through it."""

from __future__ import annotations

import time


class SkippingClock:
    """`time.monotonic`, plus however far the test skipped it forward."""

    def __init__(self) -> None:
        self._ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self._ahead

    def skip(self, seconds: float) -> None:
        """Move the clock `seconds` forward, at once."""
        self._ahead += seconds

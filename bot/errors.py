"""The few failures the core tells apart, each meaning one thing for an event.

Every boundary turns its library's exceptions into these once: the Redis client
(`bot.storage`) raises `StorageUnavailable`, each channel's sender raises
`PlatformUnavailable`, `RetryAfter` or `PermanentFailure`. The inbox worker and the
delivery decide by these types alone; anything else is a bug in handling the event.

- `StorageUnavailable`: Redis is unreachable. The event waits for it and is never
  dead-lettered for it.
- `PlatformUnavailable`: a platform answered 5xx, or not at all. The send is parked and
  retried with backoff (`bot.outbound`); the event, and the customer's next ones, go on.
- `RetryAfter`: a platform asked us to slow down (429). As above, not before the time it
  named.
- `PermanentFailure`: a platform refused for good (bad token, blocked user, invalid
  message). Recorded and logged, never retried.
"""

from __future__ import annotations

from bot.model import ChannelName


class TsunaguError(Exception):
    """Base of the failures the core tells apart."""


class StorageUnavailable(TsunaguError):
    """Redis could not be reached (refused, reset, timed out): no fault of the event."""


class PlatformUnavailable(TsunaguError):
    """A channel's platform is failing for now (5xx, connection refused, timeout)."""

    def __init__(self, channel: ChannelName, reason: str):
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason


class RetryAfter(PlatformUnavailable):
    """A platform answered 429: try again, but not before `seconds` have passed."""

    def __init__(self, channel: ChannelName, seconds: float, reason: str = "rate limited"):
        super().__init__(channel, f"{reason} (retry after {seconds:g}s)")
        self.seconds = seconds


class PermanentFailure(TsunaguError):
    """A platform refused the request for good: repeating it can never succeed."""

    def __init__(self, channel: ChannelName, reason: str):
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason

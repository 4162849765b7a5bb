"""The small interfaces the dispatcher needs from the world, implemented outside `bot`.

The composition root (`bot.composition`) plugs the real ones in: channel senders from
`channels`, the queue and desks from `handoff`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from bot.conversation import DeskEvent
from bot.model import ChannelName, Inbound, Outgoing
from bot.panels import Panel

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.settings import Settings
    from bot.storage import Keys


class Sender(Protocol):
    """Delivers messages on one channel. Must be idempotent on `Outgoing.message_id`."""

    channel: ChannelName

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver the replies to one event (one customer, in order).

        A failure is raised as a `bot.errors` type: `PlatformUnavailable` or `RetryAfter`
        (the delivery parks the batch and retries it later), `PermanentFailure` (recorded,
        never retried). A batch lets a channel use one API call for several messages
        (LINE's reply token can be used only once).
        """
        ...


class Attendant(Protocol):
    """A channel's part in handling its customers' events, in the worker rather than in the
    webhook (whose answer waits for no outbound call)."""

    def attend(self, inbound: Inbound) -> AbstractAsyncContextManager[None]:
        """Entered before a new event is decided (it may fill in `inbound.locale` and
        `display_name`), left once its effects were carried out. A replay of an event
        decided before is not attended."""
        ...

    async def display_name(self, user_id: str) -> str | None:
        """The customer's name on the channel, looked up now if need be (and kept for
        later): asked when a step is about to tell the agents' desks about a conversation
        that has no name yet. None when the platform has none or does not answer soon."""
        ...


class HandoffQueue(Protocol):
    """Customers waiting for a person."""

    async def enqueue(self, customer_key: str, *, queued_at: float, priority: int = 0) -> None:
        """Add a customer (no-op if already waiting: the position is kept)."""
        ...

    async def dequeue(self, customer_key: str) -> None:
        """Remove a customer (no-op if absent)."""
        ...

    async def position(self, customer_key: str) -> int | None:
        """1 for the next customer to be served; None if not waiting."""
        ...

    async def length(self) -> int:
        """How many customers wait."""
        ...

    async def count_ahead(self, *, queued_at: float, priority: int = 0) -> int:
        """How many waiting customers would be served before one joining now."""
        ...

    async def record_wait(self, seconds: float) -> None:
        """Remember how long a claimed customer waited (for the next estimates)."""
        ...

    async def estimated_wait_seconds(self) -> float | None:
        """A wait estimate from recent waits, or None without enough history."""
        ...

    async def count_escalation(self, origin: str, window_seconds: float) -> int:
        """Count one escalation from `origin` (a client address); returns how many it made
        in the current window, this one included."""
        ...


class Desk(Protocol):
    """Where agents hear about escalations (Slack, the web console)."""

    async def notify(self, event: DeskEvent) -> None:
        """Tell agents; must be idempotent for a repeated event. A desk on a platform raises
        its failures as `bot.errors` types, so an outage parks the notice (`bot.outbound`)."""
        ...


class PanelSource(Protocol):
    """A part with figures of its own for /admin and `tsunagu report` (a channel's cost)."""

    async def panel(self) -> Panel | None:
        """The panel now, or None when there is nothing to show. Never raises for a
        platform that does not answer: the panel says so instead."""
        ...


class ReadReceipts(Protocol):
    """A channel that can tell the customer a person has read their messages."""

    async def seen_by_agent(self, customer_key: str) -> None:
        """An agent opened the customer's conversation. Returns at once; a channel that
        cannot show it, or whose platform fails, does nothing."""
        ...


class CustomerData(Protocol):
    """A part that keeps data about customers: `tsunagu forget` asks each one what to erase."""

    async def customer_keys(self, redis: Redis, keys: Keys, customer_key: str) -> list[str]:
        """The Redis keys holding what this part keeps about `customer_key` (`channel:user`,
        of any channel: a desk keeps data about every channel's customers). The caller
        deletes them."""
        ...

    async def erased(self, redis: Redis, keys: Keys, customer_key: str, settings: Settings) -> None:
        """Called once the customer's keys are gone: mark what must outlive the erasure
        (a revoked web token, for instance). Most parts have nothing to do."""
        ...

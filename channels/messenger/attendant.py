"""The Messenger and Instagram channels' part in handling their customers' events, in the
inbox worker.

The webhook only verifies, reads and stores events (no call to Meta delays its 200). Here,
before the dispatcher decides a customer's event, in one Redis round trip:

- the customer's messaging window is recorded again from the event's own time. The webhook
  recorded it already, but on Redis Cluster (or with `REDIS_WAIT_REPLICAS`) only the
  inbox's events are waited for on a replica: the window lives in the customer's own slot,
  and a failover right after the 200 may lose it while the event survives. The event is
  the source of truth, so its answer is sent as Meta allows. The later of the two times is
  kept, and the event's time is never later than when it reached the webhook, so an event
  handled a day late neither shortens a newer window nor opens one Meta has closed;
- the customer's name is read from the cache, or asked of the User Profile API and waited
  for at most `…_PROFILE_TIMEOUT_SECONDS` (a late answer still fills the cache for the
  next message), so an agent sees who is writing from the first escalation on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from bot.model import Inbound, InboundKind
from channels.messenger.profiles import Profiles
from channels.messenger.window import LastMessages

# What a customer does; timers and agents' actions are handled without the customer.
_CUSTOMER_KINDS = {InboundKind.TEXT, InboundKind.CHOICE, InboundKind.MEDIA, InboundKind.FOLLOW}


class MetaAttendant:
    """The `bot.ports.Attendant` of the Messenger or the Instagram channel."""

    def __init__(
        self, redis: Redis, last_messages: LastMessages, profiles: Profiles, timeout: float
    ):
        self.redis = redis
        self.last_messages = last_messages
        self.profiles = profiles
        self.timeout = timeout

    @contextlib.asynccontextmanager
    async def attend(self, inbound: Inbound) -> AsyncIterator[None]:
        """Before deciding one customer event: records the customer's window from the
        event's time and fills in the customer's name."""
        if inbound.kind in _CUSTOMER_KINDS:
            await self._window_with_name(inbound)
        yield

    async def _window_with_name(self, inbound: Inbound) -> None:
        user_id = inbound.user_id
        wants_name = inbound.display_name is None
        # One round trip for both (on a cluster, the two keys' nodes are asked at once).
        async with self.redis.pipeline(transaction=False) as pipe:
            # `received_at` is Meta's time of the event, as the webhook recorded it.
            self.last_messages.queue_record(pipe, user_id, inbound.received_at)
            if wants_name:
                self.profiles.queue_cached(pipe, user_id)
            answers = await pipe.execute()
        if wants_name:
            inbound.display_name = await self.profiles.name_after_cache(
                user_id, answers[1], self.timeout
            )

    async def display_name(self, user_id: str) -> str | None:
        """The customer's name from the cache: asked when agents are first told of a
        conversation that has none yet. `attend` already waited for Meta for this
        customer's events, so an escalation is not held up a second time; a look-up
        still running goes on and fills the cache for the next notice."""
        return await self.profiles.name(user_id, 0)

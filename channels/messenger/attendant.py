"""The Messenger and Instagram channels' part in handling their customers' events, in the
inbox worker.

The webhook only verifies, reads and stores events (no call to Meta delays its 200). Here,
before the dispatcher decides a customer's event, the customer's name is filled in from
the cache, or asked of the User Profile API and waited for at most
`…_PROFILE_TIMEOUT_SECONDS` (a late answer still fills the cache for the next message), so
an agent sees who is writing from the first escalation on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.model import Inbound, InboundKind
from channels.messenger.profiles import Profiles

# What a customer does; timers and agents' actions are handled without the customer.
_CUSTOMER_KINDS = {InboundKind.TEXT, InboundKind.CHOICE, InboundKind.MEDIA, InboundKind.FOLLOW}


class MetaAttendant:
    """The `bot.ports.Attendant` of the Messenger or the Instagram channel."""

    def __init__(self, profiles: Profiles, timeout: float):
        self.profiles = profiles
        self.timeout = timeout

    @contextlib.asynccontextmanager
    async def attend(self, inbound: Inbound) -> AsyncIterator[None]:
        """Before deciding one customer event: fills in the customer's name."""
        if inbound.kind in _CUSTOMER_KINDS and inbound.display_name is None:
            inbound.display_name = await self.profiles.name(inbound.user_id, self.timeout)
        yield

    async def display_name(self, user_id: str) -> str | None:
        """The customer's name from the cache: asked when agents are first told of a
        conversation that has none yet. `attend` already waited for Meta for this
        customer's events, so an escalation is not held up a second time; a look-up
        still running goes on and fills the cache for the next notice."""
        return await self.profiles.name(user_id, 0)

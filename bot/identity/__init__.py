"""One customer across channels: link codes, linked identities, the customer's profile.

`Linking` is what the flow and the channels use: ask for a code on one identity, type it
on another, and the two are one customer (`links.Identities`); unlink from either side.
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.conversation import ConversationStore
from bot.identity.codes import (
    IssuedCode,
    LinkCodeError,
    LinkCodes,
    LockedOut,
    OwnCode,
    TooManyCodes,
    WrongCode,
    looks_like_code,
)
from bot.identity.links import CustomerProfile, Identities, LinkRefused, channel_of
from bot.storage import Keys

__all__ = [
    "CustomerProfile",
    "Identities",
    "IssuedCode",
    "LinkCodeError",
    "LinkCodes",
    "LinkRefused",
    "Linking",
    "LockedOut",
    "OwnCode",
    "TooManyCodes",
    "WrongCode",
    "channel_of",
    "looks_like_code",
]


class Linking:
    """Link codes and linked identities together."""

    def __init__(
        self, redis: Redis, keys: Keys, store: ConversationStore, *, clock: Clock = SYSTEM_CLOCK
    ):
        self.codes = LinkCodes(redis, keys, clock=clock)
        self.identities = Identities(redis, keys)
        self._store = store

    async def request_code(self, customer_key: str) -> IssuedCode:
        """A one-time code for `customer_key` to type on another channel."""
        return await self.codes.issue(customer_key)

    async def redeem(self, code: str, customer_key: str, *, address: str | None = None) -> str:
        """Link `customer_key` with the identity that asked for `code`; returns the
        customer's profile key. Raises `LinkCodeError` or `LinkRefused`. `address`: the
        client address of a web request, whose wrong tries are capped too."""
        issuer = await self.codes.redeem(code, customer_key, address=address)
        return await self.identities.link(issuer, customer_key, self._store.load)

    async def unlink(self, customer_key: str) -> bool:
        """Detach `customer_key` from its linked customer; False if it was not linked."""
        return await self.identities.unlink(customer_key)

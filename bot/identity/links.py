"""Linked identities: `line:U…` and `web:w_…` known as one customer.

A linked customer is named by one of their identities, the *profile key*: their
conversation, queue entry, desk threads and history are stored under it, whichever
channel they write on. Every other identity points to it (`Keys.identity_link`), and the
profile key's member set lists them all. An identity never linked is its own profile key,
so nothing changes for a customer who uses one channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import WatchError

from bot.conversation import Conversation, ConversationState
from bot.storage import Keys

_LIVE = (ConversationState.QUEUED, ConversationState.WITH_AGENT, ConversationState.SURVEY)


class LinkRefused(Exception):
    """The two identities cannot be linked; the message says why."""


def channel_of(customer_key: str) -> str:
    """The channel part of a customer key (`line` of `line:U123`)."""
    return customer_key.partition(":")[0]


def liveliness(conversation: Conversation | None) -> tuple[int, int, float]:
    """How much a conversation has going on, for choosing which one continues.

    A conversation with an agent (or waiting for one, or in its survey) beats one the
    customer wrote in, which beats a greeting nobody answered; the newer wins a tie.
    """
    if conversation is None or conversation.state is ConversationState.CLOSED:
        return (0, 0, 0.0)
    return (
        1 if conversation.state in _LIVE else 0,
        1 if conversation.customer_messages > 0 else 0,
        conversation.updated_at,
    )


class CustomerProfile(BaseModel):
    """One customer across channels."""

    key: str = Field(description="The profile key: where the conversation is stored.")
    identities: dict[str, str] = Field(
        default_factory=dict, description="Channel → that channel's customer key."
    )
    vip: bool = False
    language: str | None = None


Loader = Callable[[str], Awaitable[Conversation | None]]


class Identities:
    """Which identities belong together, in Redis."""

    def __init__(self, redis: Redis, keys: Keys):
        self._redis = redis
        self._keys = keys

    async def resolve(self, customer_key: str) -> str:
        """The profile key of `customer_key` (itself when it is not linked)."""
        linked = await self._redis.get(self._keys.identity_link(customer_key))
        return str(linked) if linked else customer_key

    async def resolve_many(self, customer_keys: list[str]) -> dict[str, str]:
        """The profile key of each of `customer_keys` (one round trip per 500)."""
        resolved: dict[str, str] = {}
        for start in range(0, len(customer_keys), 500):
            batch = customer_keys[start : start + 500]
            found = await self._redis.mget([self._keys.identity_link(k) for k in batch])
            resolved.update({k: str(v) if v else k for k, v in zip(batch, found, strict=True)})
        return resolved

    async def members(self, customer_key: str) -> list[str]:
        """Every identity of the customer `customer_key` belongs to, the profile key first."""
        profile_key = await self.resolve(customer_key)
        found = await self._redis.smembers(self._keys.identity_members(profile_key))
        others = sorted(str(m) for m in found if m != profile_key)
        return [profile_key, *others]

    async def profile(self, customer_key: str, *, language: str | None = None) -> CustomerProfile:
        """The customer `customer_key` belongs to (`language`: what they last wrote in)."""
        members = await self.members(customer_key)
        vip, stored_language = await self._redis.hmget(
            self._keys.identity_profile(members[0]), ["vip", "language"]
        )
        return CustomerProfile(
            key=members[0],
            identities={channel_of(m): m for m in reversed(members)},
            vip=vip == "1",
            language=language or (str(stored_language) if stored_language else None),
        )

    async def set_vip(self, customer_key: str, vip: bool) -> None:
        """Mark the customer (every linked identity) as VIP, or not."""
        profile_key = await self.resolve(customer_key)
        await self._redis.hset(self._keys.identity_profile(profile_key), "vip", "1" if vip else "0")

    async def link(self, first: str, second: str, load: Loader) -> str:
        """Make `first` and `second` one customer; returns the profile key.

        The profile key is the one whose conversation has the most going on (`liveliness`),
        so a customer queued on LINE who links the web widget stays the queued customer.
        Raises `LinkRefused` when both already have an identity on the same channel.
        """
        while True:
            try:
                return await self._link_once(first, second, load)
            except WatchError:
                continue  # another link changed one of them meanwhile: look again

    async def _link_once(self, first: str, second: str, load: Loader) -> str:
        a, b = await self.resolve(first), await self.resolve(second)
        if a == b:
            return a
        group_a, group_b = await self.members(a), await self.members(b)
        shared = {channel_of(m) for m in group_a} & {channel_of(m) for m in group_b}
        if shared:
            raise LinkRefused(
                f"already linked to another {', '.join(sorted(shared))} account; unlink it first"
            )
        keep, join = (a, b) if liveliness(await load(a)) >= liveliness(await load(b)) else (b, a)
        joining = group_b if join == b else group_a
        watched = [self._keys.identity_link(k) for k in (a, b)]
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(*watched, self._keys.identity_members(join))
            join_vip = await pipe.hget(self._keys.identity_profile(join), "vip")
            pipe.multi()
            for member in joining:
                pipe.set(self._keys.identity_link(member), keep)
            pipe.sadd(self._keys.identity_members(keep), keep, *joining)
            pipe.delete(self._keys.identity_members(join))
            if join_vip == "1":
                pipe.hset(self._keys.identity_profile(keep), "vip", "1")
            pipe.delete(self._keys.identity_profile(join))
            await pipe.execute()
        return keep

    async def unlink(self, customer_key: str) -> bool:
        """Detach `customer_key` from the customer it is linked with; False if it was not.

        The identity keeps nothing of the linked customer: its next message starts afresh.
        When the profile key itself leaves, the next identity becomes the profile key of
        the others (their conversation stays with the one that left).
        """
        members = await self.members(customer_key)
        if len(members) < 2:
            return False
        profile_key, rest = members[0], [m for m in members if m != customer_key]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.identity_link(customer_key))
            if customer_key != profile_key:
                pipe.srem(self._keys.identity_members(profile_key), customer_key)
                if len(rest) < 2:
                    pipe.delete(self._keys.identity_members(profile_key))
                    pipe.delete(self._keys.identity_link(profile_key))
            else:
                new_key = rest[0]
                pipe.delete(self._keys.identity_members(profile_key))
                pipe.delete(self._keys.identity_link(new_key))
                if len(rest) > 1:
                    pipe.sadd(self._keys.identity_members(new_key), *rest)
                    for member in rest[1:]:
                        pipe.set(self._keys.identity_link(member), new_key)
            await pipe.execute()
        return True

    async def erase(self, customer_key: str) -> list[str]:
        """Forget the links of the customer `customer_key` belongs to; returns every
        identity it had (for erasing what each of them left)."""
        members = await self.members(customer_key)
        async with self._redis.pipeline(transaction=True) as pipe:
            for member in members:
                pipe.delete(self._keys.identity_link(member))
                pipe.delete(self._keys.link_tries(member))
                pipe.delete(self._keys.link_probes(member))
                pipe.delete(self._keys.link_codes_issued(member))
            pipe.delete(self._keys.identity_members(members[0]))
            pipe.delete(self._keys.identity_profile(members[0]))
            await pipe.execute()
        return members

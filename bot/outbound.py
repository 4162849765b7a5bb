"""Outbound retries: sends a platform could not take right now, kept in Redis and retried.

When a channel's platform is down (`PlatformUnavailable`) or asks us to slow down
(`RetryAfter`), the replies of that event are *parked* here instead of holding the event
in the inbox, so the customer's next events, other customers and other channels go on.
A sweeper in every worker process retries them with exponential backoff and jitter (not
before a platform's `Retry-After`), and gives up after `OUTBOUND_RETRY_SECONDS`.

Per customer, parked sends form a line (oldest first): a later reply to the same customer
on the same channel queues behind the ones waiting, so nothing overtakes. Redis holds:

- `conv:{channel:user}:outbound`: a hash of the customer's parked sends, by send id (the
  hash of its message ids, so parking the same replies twice keeps one);
- `conv:{channel:user}:outbound:line`: their order (a list of send ids);
- `outbound:<channel>`: a sorted set of customers with parked sends, by the time their
  oldest one is next tried. A sweeper claims a customer by moving that time a while ahead,
  so two processes never retry the same customer at once.

Retried sends stay exactly-once in effect: every sender is idempotent on message ids (LINE
pushes carry the same `X-Line-Retry-Key` however often they are repeated).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from bot import metrics
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter, StorageUnavailable
from bot.model import Channel, Outgoing
from bot.storage import Keys

log = logging.getLogger("tsunagu.outbound")

Clock = Callable[[], float]

# Park a send once (by id), at the end of the customer's line; returns 1 if it is new.
_PARK = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
# Take a parked send out of the line (delivered, or given up).
_DROP = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('LREM', KEYS[2], 0, ARGV[1])
return redis.call('LLEN', KEYS[2])
"""
# Claim customers whose next attempt is due: move their time `claim` seconds ahead.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], member)
end
return due
"""


class ParkedSend(BaseModel):
    """One event's replies to one customer, waiting for their platform."""

    id: str
    batch: list[Outgoing]
    parked_at: float
    attempts: int = 0  # failed attempts so far
    error: str = ""

    @property
    def channel(self) -> Channel:
        """The channel all of the replies go out on."""
        return self.batch[0].channel

    @property
    def customer_key(self) -> str:
        """`channel:user` of the customer they are for."""
        return f"{self.channel.value}:{self.batch[0].user_id}"


def send_id(batch: list[Outgoing]) -> str:
    """The idempotency key of a batch: the same replies always get the same id."""
    return hashlib.sha256("|".join(o.message_id for o in batch).encode()).hexdigest()[:32]


class RetryPolicy:
    """When to try a failed send again, and when to stop."""

    def __init__(
        self,
        *,
        give_up_seconds: float,
        base_seconds: float = 2.0,
        max_backoff_seconds: float = 300.0,
        rng: random.Random | None = None,
    ):
        self.give_up_seconds = give_up_seconds
        self.base = base_seconds
        self.max_backoff = max_backoff_seconds
        self._rng = rng or random.Random()

    def next_attempt(self, parked: ParkedSend, error: PlatformUnavailable, now: float) -> float:
        """When to try again after the `parked.attempts`-th failure: exponential backoff
        with jitter (so many parked sends don't all hit a recovering platform at once), and
        never before a `Retry-After` the platform named."""
        backoff = min(self.base * 2 ** max(parked.attempts - 1, 0), self.max_backoff)
        wait = backoff * (0.5 + self._rng.random())
        if isinstance(error, RetryAfter):
            wait = max(wait, error.seconds)
        return now + wait

    def expired(self, parked: ParkedSend, now: float) -> bool:
        """True once a send has waited longer than we keep trying."""
        return now - parked.parked_at >= self.give_up_seconds


class OutboundRetries:
    """The parked sends in Redis: park, look, claim, reschedule, drop."""

    def __init__(self, redis: Redis, keys: Keys, policy: RetryPolicy, *, claim_seconds: float = 60):
        self.redis = redis
        self.keys = keys
        self.policy = policy
        self.claim_seconds = claim_seconds
        self._park = redis.register_script(_PARK)
        self._drop = redis.register_script(_DROP)
        self._claim = redis.register_script(_CLAIM)

    def _customer_keys(self, customer_key: str) -> list[str]:
        return [self.keys.outbound(customer_key), self.keys.outbound_line(customer_key)]

    async def waiting(self, customer_key: str) -> bool:
        """True while the customer has sends waiting for a retry (later ones queue behind)."""
        return bool(await self.redis.llen(self.keys.outbound_line(customer_key)))

    async def park(
        self, batch: list[Outgoing], now: float, error: PlatformUnavailable | None = None
    ) -> bool:
        """Keep `batch` for a retry: after it failed with `error`, or (None) behind the
        customer's earlier sends, untried. False if it was parked already."""
        parked = ParkedSend(
            id=send_id(batch),
            batch=batch,
            parked_at=now,
            attempts=1 if error is not None else 0,
            error=error.reason if error is not None else "",
        )
        next_at = self.policy.next_attempt(parked, error, now) if error is not None else now
        # Kept a day longer than we try, in case no sweeper runs for a while.
        ttl = int(self.policy.give_up_seconds + 24 * 3600)
        new = await self._park(
            keys=self._customer_keys(parked.customer_key),
            args=[parked.id, parked.model_dump_json(), ttl],
        )
        # After the line is written: a crash in between leaves a line with no schedule,
        # which the event's replay mends (it parks the same send again, then schedules).
        await self.redis.zadd(
            self.keys.outbound_due(parked.channel.value), {parked.customer_key: next_at}, nx=True
        )
        return bool(new)

    async def head(self, customer_key: str) -> ParkedSend | None:
        """The customer's oldest parked send, if any."""
        first = await self.redis.lindex(self.keys.outbound_line(customer_key), 0)
        if first is None:
            return None
        raw = await self.redis.hget(self.keys.outbound(customer_key), first)
        if raw is None:  # the line and the hash disagree (expired): drop the stray id
            await self._drop(keys=self._customer_keys(customer_key), args=[first])
            return await self.head(customer_key)
        return ParkedSend.model_validate_json(raw)

    async def claim_due(self, channel: Channel, now: float, limit: int = 100) -> list[str]:
        """Customers of `channel` whose next retry is due, now ours to retry."""
        claimed = await self._claim(
            keys=[self.keys.outbound_due(channel.value)],
            args=[now, self.claim_seconds, limit],
        )
        return [str(member) for member in cast(list[str], claimed)]

    async def retry_later(self, parked: ParkedSend, next_at: float) -> None:
        """Record a failed attempt and when the customer's line is tried next."""
        await self.redis.hset(
            self.keys.outbound(parked.customer_key), parked.id, parked.model_dump_json()
        )
        await self.redis.zadd(
            self.keys.outbound_due(parked.channel.value), {parked.customer_key: next_at}
        )

    async def drop(self, parked: ParkedSend) -> int:
        """Take a send out of the line; returns how many of the customer's remain."""
        left = await self._drop(keys=self._customer_keys(parked.customer_key), args=[parked.id])
        return int(cast(int, left))

    async def release(self, channel: Channel, customer_key: str, now: float) -> None:
        """Unschedule a customer whose line is empty (re-checked, as a send may just have
        been parked behind)."""
        due = self.keys.outbound_due(channel.value)
        await self.redis.zrem(due, customer_key)
        if await self.waiting(customer_key):
            await self.redis.zadd(due, {customer_key: now}, nx=True)

    async def pending(self, channel: Channel) -> int:
        """How many customers of `channel` have sends waiting for a retry."""
        return int(await self.redis.zcard(self.keys.outbound_due(channel.value)))


class Attempt(Protocol):
    """Tries one batch once on its channel, raising the `bot.errors` types."""

    async def __call__(self, batch: list[Outgoing]) -> None: ...


class GiveUp(Protocol):
    """Told of a batch that will never be delivered, and why."""

    async def __call__(self, batch: list[Outgoing], reason: str, *, gave_up: bool) -> None: ...


class OutboundSweeper:
    """Retries the parked sends of one channel when they are due (one per channel and
    process, so a platform that is slow to fail holds up only its own retries)."""

    def __init__(
        self,
        retries: OutboundRetries,
        channel: Channel,
        attempt: Attempt,
        give_up: GiveUp,
        *,
        interval_seconds: float = 1.0,
        clock: Clock = time.time,
    ):
        self.retries = retries
        self.channel = channel
        self.attempt = attempt
        self.give_up = give_up
        self.interval = interval_seconds
        self.clock = clock

    async def sweep(self, now: float | None = None) -> int:
        """Retry every customer whose parked sends are due; returns how many customers."""
        now = self.clock() if now is None else now
        customers = await self.retries.claim_due(self.channel, now)
        await asyncio.gather(*(self._drain(customer, now) for customer in customers))
        metrics.OUTBOUND_PENDING.labels(self.channel.value).set(
            await self.retries.pending(self.channel)
        )
        return len(customers)

    async def _drain(self, customer_key: str, now: float) -> None:
        """Send the customer's parked sends in order until one fails again."""
        while (parked := await self.retries.head(customer_key)) is not None:
            try:
                await self.attempt(parked.batch)
            except PlatformUnavailable as exc:
                await self._failed_again(parked, exc, now)
                return
            except PermanentFailure as exc:
                await self.retries.drop(parked)
                await self.give_up(parked.batch, exc.reason, gave_up=False)
                continue
            metrics.OUTBOUND_RETRIES.labels(self.channel.value, "delivered").inc()
            log.info(
                "outbound: delivered after a retry",
                extra={
                    "channel": self.channel.value,
                    "customer": customer_key,
                    "send": parked.id,
                    "attempts": parked.attempts + 1,
                    "waited": round(now - parked.parked_at, 1),
                },
            )
            await self.retries.drop(parked)
        await self.retries.release(self.channel, customer_key, now)

    async def _failed_again(self, parked: ParkedSend, exc: PlatformUnavailable, now: float) -> None:
        metrics.OUTBOUND_RETRIES.labels(self.channel.value, "failed").inc()
        parked.attempts += 1
        parked.error = exc.reason
        if self.retries.policy.expired(parked, now):
            await self.retries.drop(parked)
            reason = f"gave up after {parked.attempts} attempts: {exc.reason}"
            await self.give_up(parked.batch, reason, gave_up=True)
            # The next send in line gets its own chance at once.
            await self.retries.release(self.channel, parked.customer_key, now)
            return
        next_at = self.retries.policy.next_attempt(parked, exc, now)
        log.debug(
            "outbound: retry failed",
            extra={"channel": self.channel.value, "send": parked.id, "error": exc.reason},
        )
        await self.retries.retry_later(parked, next_at)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.sweep()
            except StorageUnavailable as exc:
                log.warning("outbound: Redis unreachable, retrying", extra={"error": str(exc)})
            except Exception:
                log.exception("outbound: sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

"""Outbound retries: sends a platform could not take right now, kept in Redis and retried.

When a platform is down (`PlatformUnavailable`) or asks us to slow down (`RetryAfter`),
what was to be sent there is *parked* here instead of holding the event in the inbox, so
the customer's next events, other customers and other platforms go on. A sweeper in every
worker process retries with exponential backoff and jitter (never before a platform's
`Retry-After`), and gives up after `OUTBOUND_RETRY_SECONDS`.

Sends go in *lanes*, one per destination: a channel's replies to customers (`line`,
`slack`, `web`) or a desk's notices to agents (`desk:slack`). Per customer and lane,
parked sends form a line, oldest first: a later send to the same customer in the same lane
queues behind the ones waiting, so nothing overtakes. Redis holds:

- `conv:{channel:user}:outbound:<lane>`: a hash of the customer's parked sends, by send
  id (the hash of its message ids, or of the desk event, so parking the same replies twice
  keeps one);
- `conv:{channel:user}:outbound:<lane>:line`: their order (a list of send ids);
- `outbound:<lane>`: a sorted set of customers with parked sends, by the time their oldest
  one is next tried. A sweeper claims a customer by moving that time a while ahead, so two
  processes never retry the same customer at once.

Retried sends stay exactly-once in effect: senders are idempotent on message ids (LINE
pushes carry the same `X-Line-Retry-Key` however often they are repeated), desks on events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from bot import metrics
from bot.conversation import DeskEvent
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter, StorageUnavailable
from bot.model import ChannelName, Outgoing
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
return redis.call('LREM', KEYS[2], 0, ARGV[1])
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
    """Something for one customer that waits for its platform: one event's replies to
    them (`batch`), or a notice about them to a desk (`desk_event`)."""

    id: str
    lane: str
    customer_key: str
    batch: list[Outgoing] = Field(default_factory=list)
    desk_event: DeskEvent | None = None
    parked_at: float
    attempts: int = 0  # failed attempts so far
    error: str = ""


def channel_lane(channel: ChannelName) -> str:
    """The lane of a channel's replies to its customers."""
    return channel


def desk_lane(name: str) -> str:
    """The lane of a desk's notices to agents."""
    return f"desk:{name}"


def replies(batch: list[Outgoing]) -> ParkedSend:
    """A batch of replies as a parked send (not yet tried)."""
    first = batch[0]
    return ParkedSend(
        id=hashlib.sha256("|".join(o.message_id for o in batch).encode()).hexdigest()[:32],
        lane=channel_lane(first.channel),
        customer_key=f"{first.channel}:{first.user_id}",
        batch=batch,
        parked_at=0.0,
    )


def notice(desk_name: str, event: DeskEvent) -> ParkedSend:
    """A desk event as a parked send (not yet tried)."""
    digest = hashlib.sha256(event.model_dump_json().encode()).hexdigest()[:32]
    return ParkedSend(
        id=digest,
        lane=desk_lane(desk_name),
        customer_key=event.customer_key,
        desk_event=event,
        parked_at=0.0,
    )


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

    def _line_keys(self, customer_key: str, lane: str) -> list[str]:
        return [
            self.keys.outbound(customer_key, lane),
            self.keys.outbound_order(customer_key, lane),
        ]

    async def waiting(self, customer_key: str, lane: str) -> bool:
        """True while the customer has sends waiting in `lane` (later ones queue behind)."""
        return bool(await self.redis.llen(self.keys.outbound_order(customer_key, lane)))

    def waiting_in(self, pipe: Any, customer_key: str, lane: str) -> None:
        """Queue `waiting`'s read in `pipe`, for a caller that has a round trip to make
        anyway: its answer is truthy while sends wait."""
        pipe.llen(self.keys.outbound_order(customer_key, lane))

    async def park(
        self, send: ParkedSend, now: float, error: PlatformUnavailable | None = None
    ) -> bool:
        """Keep `send` for a retry: after it failed with `error`, or (None) behind the
        customer's earlier sends in its lane, untried. False if it was parked already."""
        parked = send.model_copy(
            update={
                "parked_at": now,
                "attempts": 1 if error is not None else 0,
                "error": error.reason if error is not None else "",
            }
        )
        next_at = self.policy.next_attempt(parked, error, now) if error is not None else now
        # Kept a day longer than we try, in case no sweeper runs for a while.
        ttl = int(self.policy.give_up_seconds + 24 * 3600)
        new = await self._park(
            keys=self._line_keys(parked.customer_key, parked.lane),
            args=[parked.id, parked.model_dump_json(), ttl],
        )
        # After the line is written: a crash in between leaves a line with no schedule,
        # which the event's replay mends (it parks the same send again, then schedules).
        await self.redis.zadd(
            self.keys.outbound_due(parked.lane), {parked.customer_key: next_at}, nx=True
        )
        return bool(new)

    async def head(self, customer_key: str, lane: str) -> ParkedSend | None:
        """The customer's oldest parked send in `lane`, if any."""
        keys = self._line_keys(customer_key, lane)
        while (first := await self.redis.lindex(keys[1], 0)) is not None:
            raw = await self.redis.hget(keys[0], first)
            if raw is not None:
                return ParkedSend.model_validate_json(raw)
            await self._drop(keys=keys, args=[first])  # a stray id (its entry expired)
        return None

    async def claim_due(self, lane: str, now: float, limit: int = 100) -> list[str]:
        """Customers whose next retry in `lane` is due, now ours to retry."""
        claimed = await self._claim(
            keys=[self.keys.outbound_due(lane)], args=[now, self.claim_seconds, limit]
        )
        return [str(member) for member in cast(list[str], claimed)]

    async def retry_later(self, parked: ParkedSend, next_at: float) -> None:
        """Record a failed attempt and when the customer's line is tried next."""
        await self.redis.hset(
            self.keys.outbound(parked.customer_key, parked.lane),
            parked.id,
            parked.model_dump_json(),
        )
        await self.redis.zadd(self.keys.outbound_due(parked.lane), {parked.customer_key: next_at})

    async def drop(self, parked: ParkedSend) -> None:
        """Take a send out of its line (delivered, or given up)."""
        await self._drop(keys=self._line_keys(parked.customer_key, parked.lane), args=[parked.id])

    async def release(self, lane: str, customer_key: str, now: float) -> None:
        """Unschedule a customer whose line is empty (re-checked, as a send may just have
        been parked behind)."""
        due = self.keys.outbound_due(lane)
        await self.redis.zrem(due, customer_key)
        if await self.waiting(customer_key, lane):
            await self.redis.zadd(due, {customer_key: now}, nx=True)

    async def pending(self, lane: str) -> int:
        """How many customers have sends waiting in `lane`."""
        return int(await self.redis.zcard(self.keys.outbound_due(lane)))


class Attempt(Protocol):
    """Tries a parked send once, raising the `bot.errors` types."""

    async def __call__(self, send: ParkedSend) -> None: ...


class GiveUp(Protocol):
    """Told of a send that will never go out (refused, or `gave_up` retrying), and why."""

    async def __call__(self, send: ParkedSend, reason: str, *, gave_up: bool) -> None: ...


class OutboundSweeper:
    """Retries the parked sends of one lane when they are due (one per lane and process,
    so a platform that is slow to fail holds up only its own retries)."""

    def __init__(
        self,
        retries: OutboundRetries,
        lane: str,
        attempt: Attempt,
        give_up: GiveUp,
        *,
        interval_seconds: float = 1.0,
        clock: Clock = time.time,
    ):
        self.retries = retries
        self.lane = lane
        self.attempt = attempt
        self.give_up = give_up
        self.interval = interval_seconds
        self.clock = clock

    async def sweep(self, now: float | None = None) -> int:
        """Retry every customer whose parked sends are due; returns how many customers."""
        now = self.clock() if now is None else now
        customers = await self.retries.claim_due(self.lane, now)
        await asyncio.gather(*(self._drain(customer, now) for customer in customers))
        metrics.OUTBOUND_PENDING.labels(self.lane).set(await self.retries.pending(self.lane))
        return len(customers)

    async def _drain(self, customer_key: str, now: float) -> None:
        """Send the customer's parked sends in order until one fails again."""
        while (parked := await self.retries.head(customer_key, self.lane)) is not None:
            try:
                await self.attempt(parked)
            except PlatformUnavailable as exc:
                await self._failed_again(parked, exc, now)
                return
            except PermanentFailure as exc:
                await self.retries.drop(parked)
                await self.give_up(parked, exc.reason, gave_up=False)
                continue
            metrics.OUTBOUND_RETRIES.labels(self.lane, "delivered").inc()
            log.info(
                "outbound: delivered after a retry",
                extra={
                    "lane": self.lane,
                    "customer": customer_key,
                    "send": parked.id,
                    "attempts": parked.attempts + 1,
                    "waited": round(now - parked.parked_at, 1),
                },
            )
            await self.retries.drop(parked)
        await self.retries.release(self.lane, customer_key, now)

    async def _failed_again(self, parked: ParkedSend, exc: PlatformUnavailable, now: float) -> None:
        metrics.OUTBOUND_RETRIES.labels(self.lane, "failed").inc()
        parked.attempts += 1
        parked.error = exc.reason
        if self.retries.policy.expired(parked, now):
            await self.retries.drop(parked)
            reason = f"gave up after {parked.attempts} attempts: {exc.reason}"
            await self.give_up(parked, reason, gave_up=True)
            # The next send in line gets its own chance at once.
            await self.retries.release(self.lane, parked.customer_key, now)
            return
        next_at = self.retries.policy.next_attempt(parked, exc, now)
        log.debug(
            "outbound: retry failed",
            extra={"lane": self.lane, "send": parked.id, "error": exc.reason},
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

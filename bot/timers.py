"""Timers: things that happen when nothing happens (idle customers, unanswered surveys,
nobody taking a queued customer).

A step arms a timer as an effect; it is a sorted-set entry due at a time. Every worker
process runs a `TimerSweeper` that turns due entries into `InboundKind.TIMER` events in the
inbox, so a timer is handled like any customer event: in order with the customer's own
messages, once, by the dispatcher. Several sweepers may see the same entry; the event id is
the same for all of them, so it is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.conversation import Timer
from bot.errors import StorageUnavailable
from bot.inbox import Inbox
from bot.model import Inbound, InboundKind
from bot.storage import Keys

log = logging.getLogger("tsunagu.timers")

# Remove an entry only if it still has the score we fired, so a re-armed timer survives.
_REMOVE_IF_SCORE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


class Timers:
    """Arms timers (an effect of a step) in Redis."""

    def __init__(self, redis: Redis, keys: Keys):
        self.redis = redis
        self.key = keys.timers()

    async def arm(self, timer: Timer, customer_key: str, conversation_id: str) -> None:
        """Fire `timer` for this conversation at its due time (re-arming moves it)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self.arm_in(pipe, timer, customer_key, conversation_id)
            await pipe.execute()

    def arm_in(self, pipe: Any, timer: Timer, customer_key: str, conversation_id: str) -> None:
        """`arm`, queued in a pipeline (or transaction) of the caller's."""
        member = f"{timer.kind.value}|{customer_key}|{conversation_id}"
        pipe.zadd(self.key, {member: f"{timer.due_at:.3f}"})


class TimerSweeper:
    """Turns due timers into inbox events."""

    def __init__(
        self,
        timers: Timers,
        inbox: Inbox,
        *,
        interval_seconds: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.clock = clock
        self.timers = timers
        self.inbox = inbox
        self.interval = interval_seconds
        self._remove = timers.redis.register_script(_REMOVE_IF_SCORE)

    async def sweep(self, now: float | None = None) -> int:
        """Put every due timer in the inbox; returns how many."""
        now = self.clock.now() if now is None else now
        due = cast(
            list[tuple[str, float]],
            await self.timers.redis.zrangebyscore(
                self.timers.key, "-inf", now, start=0, num=200, withscores=True
            ),
        )
        for member, score in due:
            kind, customer_key, conversation_id = member.split("|", 2)
            channel, _, user_id = customer_key.partition(":")
            await self.inbox.put(
                Inbound(
                    event_id=f"timer:{kind}:{conversation_id}:{score:.3f}",
                    channel=channel,
                    user_id=user_id,
                    kind=InboundKind.TIMER,
                    payload=kind,
                    meta={"conversation_id": conversation_id, "due_at": f"{score:.3f}"},
                )
            )
            await self._remove(keys=[self.timers.key], args=[member, repr(score)])
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.sweep()
            except StorageUnavailable as exc:
                log.warning("timers: Redis unreachable, retrying", extra={"error": str(exc)})
            except Exception:
                log.exception("timers: sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

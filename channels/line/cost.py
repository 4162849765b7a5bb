"""What LINE messages cost: every send counted by kind and reason, the account's quota, and
the push budget that stops optional pushes.

Replies (with a reply token) are free; pushes count against the account's monthly quota
(one per recipient per call, however many messages the call carries). LINE's month is
counted in Japan time. The counts live in one Redis hash per month (`kind:reason`, e.g.
`push:agent`, and `skipped:survey` for an optional push the budget stopped).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.clock import SYSTEM_CLOCK, Clock
from bot.model import Outgoing, ReplyKind
from channels.line.client import LineApi, Quota
from channels.line.keys import LineKeys

log = logging.getLogger("tsunagu.line")

LINE_MONTH_ZONE = ZoneInfo("Asia/Tokyo")
COUNTS_KEPT_SECONDS = 400 * 24 * 3600
# After a failed read of the quota, wait this long before asking LINE again.
QUOTA_RETRY_SECONDS = 60
SendKind = Literal["reply", "push", "skipped"]
# Messages the customer did not ask for and can do without, when they would cost a push.
OPTIONAL_KINDS = (ReplyKind.SURVEY, ReplyKind.NOTICE)


def reason_of(batch: list[Outgoing]) -> str:
    """Why a call is made: the kind of its first message (`agent`, `answer`, `survey`…)."""
    return batch[0].reply.kind.value if batch else "unknown"


def is_optional(batch: list[Outgoing]) -> bool:
    """Every message of the call is one the budget may stop: a survey or a notice that
    answers nothing the customer just did (an agent's close, a timer, a follow-up). An
    agent's words never are, nor anything in answer to the customer's own message."""
    return bool(batch) and all(
        outgoing.reply.kind in OPTIONAL_KINDS and not answers_customer(outgoing)
        for outgoing in batch
    )


def answers_customer(outgoing: Outgoing) -> bool:
    """The message answers a LINE event of the customer's (it carries that event's
    destination); agents' actions and timers carry none."""
    return "to" in outgoing.meta


def month_of(at: float) -> str:
    """`YYYY-MM` of an instant, in LINE's month (Japan time)."""
    return datetime.fromtimestamp(at, LINE_MONTH_ZONE).strftime("%Y-%m")


def month_progress(at: float) -> float:
    """How far through its month (Japan time) an instant is, 0-1."""
    now = datetime.fromtimestamp(at, LINE_MONTH_ZONE)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start.replace(day=28) + _FOUR_DAYS).replace(day=1)
    return (now - start) / (following - start)


_FOUR_DAYS = datetime(2000, 1, 5) - datetime(2000, 1, 1)


@dataclass(frozen=True)
class MonthCounts:
    """One month's sends: `counts[kind][reason]`."""

    month: str
    counts: dict[str, dict[str, int]]

    def total(self, kind: SendKind) -> int:
        """All sends of one kind."""
        return sum(self.counts.get(kind, {}).values())

    @property
    def free_share(self) -> float | None:
        """Share of the calls that were free replies; None before any send."""
        sent = self.total("reply") + self.total("push")
        return self.total("reply") / sent if sent else None


class SendCounter:
    """Counts LINE sends per month and says whether the push budget is spent."""

    def __init__(
        self, redis: Redis, keys: LineKeys, *, budget: int | None, clock: Clock = SYSTEM_CLOCK
    ):
        self.redis = redis
        self.keys = keys
        self.budget = budget
        self.clock = clock

    async def count(self, kind: SendKind, reason: str) -> None:
        """One more call of `kind` this month, for `reason`."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self.count_in(pipe, kind, reason)
            await pipe.execute()

    def count_in(self, pipe: Pipeline, kind: SendKind, reason: str) -> None:
        """`count`, queued on `pipe` with other writes."""
        key = self.keys.sends(month_of(self.clock.now()))
        pipe.hincrby(key, f"{kind}:{reason}", 1)
        pipe.expire(key, COUNTS_KEPT_SECONDS)

    async def month(self, month: str | None = None) -> MonthCounts:
        """The counts of `month` (default: this one)."""
        month = month or month_of(self.clock.now())
        raw = await self.redis.hgetall(self.keys.sends(month))
        counts: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            kind, _, reason = str(field).partition(":")
            counts.setdefault(kind, {})[reason] = int(value)
        return MonthCounts(month, counts)

    async def budget_reached(self) -> bool:
        """This month's pushes reached `LINE_PUSH_BUDGET` (never, without one)."""
        if self.budget is None:
            return False
        return (await self.month()).total("push") >= self.budget


class QuotaReader:
    """LINE's quota and consumption, read at most once per `refresh_seconds` (shared by
    every process through Redis)."""

    def __init__(self, api: LineApi, redis: Redis, keys: LineKeys, *, refresh_seconds: float):
        self.api = api
        self.redis = redis
        self.keys = keys
        self.refresh_seconds = refresh_seconds

    async def read(self) -> Quota | None:
        """The figures as last read (reading them now if too old), or None when LINE did
        not answer recently."""
        cached = await self.redis.get(self.keys.quota())
        if cached is not None:
            data = json.loads(cached)
            return Quota(**data) if data else None
        try:
            quota = await self.api.quota()
        except Exception as exc:
            log.warning("line: message quota not read", extra={"error": repr(exc)[:200]})
            await self.redis.set(self.keys.quota(), "{}", ex=QUOTA_RETRY_SECONDS)
            return None
        data = {"limit": quota.limit, "used": quota.used}
        await self.redis.set(self.keys.quota(), json.dumps(data), ex=int(self.refresh_seconds))
        return quota

"""The audit log: who saw, exported or erased a customer's personal data, when and why.

One Redis stream (`<prefix>:audit`), its ids the runtime clock's milliseconds, trimmed by
age (`AUDIT_RETENTION_DAYS`). An entry names the customer by key and never holds what
they wrote, so it stays when the customer is forgotten: it is the record of the erasure.
Read it with `tsunagu audit`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, cast

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from bot.actor import Actor
from bot.clock import SYSTEM_CLOCK, Clock
from bot.records import STREAM_MS_NOT_BEFORE_NEWEST
from bot.storage import Keys

Action = Literal["view", "export", "forget"]

# The admin token on /admin carries no name: its exports are filed under this identity
# (no colon, so it can be no Slack user, agent token or named admin).
ADMIN_TOKEN = Actor(id="admin", name="admin token")

# An agent's console polls the conversation it holds: one view entry per agent and
# conversation in this many seconds is enough to say who looked.
VIEW_REPEAT_SECONDS = 15 * 60

# Append at the clock's millisecond, or just after the newest entry if that is later
# (another process's clock a little ahead); trim exactly what is past retention.
_ADD = (
    STREAM_MS_NOT_BEFORE_NEWEST
    + """
return redis.call('XADD', KEYS[1], 'MINID', ARGV[3], ms .. '-*', 'a', ARGV[2])
"""
)


class AuditEntry(BaseModel):
    """One access to a customer's personal data."""

    time: float = Field(description="When, in epoch seconds (the runtime's clock).")
    actor_id: str = Field(description="Who: `slack:U…`, `console:<name>`, `admin:<name>`, …")
    actor_name: str = Field(description="Their display name at the time.")
    action: Action = Field(
        description="view: the original messages shown; export: a download of customer "
        "data; forget: the customer's data erased."
    )
    customer_key: str | None = Field(default=None, description="Whose data (channel:user).")
    conversation_id: str | None = None
    reason: str = Field(description="Why the access was allowed or asked for.")


class AuditLog:
    """Writes and reads the audit stream."""

    def __init__(
        self, redis: Redis, keys: Keys, *, retention_days: float, clock: Clock = SYSTEM_CLOCK
    ):
        self._redis = redis
        self._stream = keys.audit()
        self._seen = keys.audit_seen()
        self._retention_ms = int(retention_days * 86_400_000)
        self.clock = clock
        self._add = redis.register_script(_ADD)

    async def write(
        self,
        actor: Actor,
        action: Action,
        reason: str,
        *,
        customer_key: str | None = None,
        conversation_id: str | None = None,
    ) -> AuditEntry:
        """File one entry, at the clock's time."""
        entry = AuditEntry(
            time=self.clock.now(),
            actor_id=actor.id,
            actor_name=actor.name,
            action=action,
            customer_key=customer_key,
            conversation_id=conversation_id,
            reason=reason,
        )
        now_ms = int(entry.time * 1000)
        cutoff = max(0, now_ms - self._retention_ms)
        await self._add(keys=[self._stream], args=[now_ms, entry.model_dump_json(), cutoff])
        return entry

    async def viewed(self, actor: Actor, customer_key: str, conversation_id: str) -> bool:
        """File that `actor`, holding the conversation, was shown its original messages;
        once per `VIEW_REPEAT_SECONDS` for the same agent and conversation. True if filed."""
        marker = f"{self._seen}:{actor.id}:{conversation_id}"
        if not await self._redis.set(marker, "1", nx=True, ex=VIEW_REPEAT_SECONDS):
            return False
        await self.write(
            actor,
            "view",
            "holds the conversation",
            customer_key=customer_key,
            conversation_id=conversation_id,
        )
        return True

    async def read(
        self, *, customer_key: str | None = None, actor_id: str | None = None
    ) -> AsyncIterator[AuditEntry]:
        """Entries oldest first, only the customer's and the actor's when given."""
        start = "-"
        while True:
            entries = cast(
                list[tuple[str, dict[str, str]]],
                await self._redis.xrange(self._stream, min=start, max="+", count=500),
            )
            for _, fields in entries:
                entry = AuditEntry.model_validate_json(fields["a"])
                if customer_key is not None and entry.customer_key != customer_key:
                    continue
                if actor_id is not None and entry.actor_id != actor_id:
                    continue
                yield entry
            if len(entries) < 500:
                return
            start = "(" + entries[-1][0]

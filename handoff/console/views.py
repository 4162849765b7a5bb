"""What the console shows: the queue, the claimed conversations, one conversation in full.

The queue (a sorted set) only holds waiting customers, and nothing indexes claimed ones, so
the console keeps its own small index of conversations it has seen waiting or claimed
(`open` below). Each read checks every entry against the conversation's own state, the
truth, and drops entries that are no longer waiting or with an agent.
"""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from bot.conversation import Conversation, ConversationState, TranscriptEntry
from bot.identity import Identities
from bot.store.conversations import RedisConversationStore
from handoff.console.schemas import (
    ActiveConversation,
    ConversationView,
    QueueView,
    WaitingCustomer,
)
from handoff.history import customer_history
from handoff.queue import RedisHandoffQueue

MAX_WAITING = 100
MAX_OPEN = 200
_PREVIEW_LINES = 20
_PREVIEW_CHARS = 140
_OPEN_STATES = (ConversationState.QUEUED, ConversationState.WITH_AGENT)


def _last_customer_line(lines: list[TranscriptEntry]) -> TranscriptEntry | None:
    return next((line for line in reversed(lines) if line.sender == "customer"), None)


def _preview(line: TranscriptEntry | None) -> str | None:
    if line is None:
        return None
    text = " ".join(line.text.split())
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


class ConsoleViews:
    """Builds the console's read models from the store, the queue and the open index."""

    def __init__(
        self,
        redis: Redis,
        open_key: str,
        store: RedisConversationStore,
        queue: RedisHandoffQueue,
        identities: Identities,
    ):
        self._redis = redis
        self._open_key = open_key
        self.store = store
        self.queue = queue
        self.identities = identities

    async def track(self, customer_key: str) -> None:
        """Remember a conversation that is waiting or claimed, to list it later."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._open_key, {customer_key: time.time()})
            # Keep the index bounded even if conversations vanish without being seen closed.
            pipe.zremrangebyrank(self._open_key, 0, -MAX_OPEN - 1)
            await pipe.execute()

    async def queue_view(self) -> QueueView:
        """Waiting customers in serving order, then conversations held by agents."""
        waiting_keys = await self.queue.waiting(MAX_WAITING)
        known = [str(key) for key in await self._redis.zrange(self._open_key, 0, -1)]
        keys = list(dict.fromkeys([*waiting_keys, *known]))
        conversations = await asyncio.gather(*(self.store.load(key) for key in keys))
        live = {
            key: conv
            for key, conv in zip(keys, conversations, strict=True)
            if conv is not None and conv.state in _OPEN_STATES
        }
        gone = [key for key in known if key not in live]
        fresh = [key for key in waiting_keys if key in live and key not in known]
        async with self._redis.pipeline(transaction=False) as pipe:
            if gone:
                pipe.zrem(self._open_key, *gone)
            if fresh:
                pipe.zadd(self._open_key, dict.fromkeys(fresh, time.time()))
            await pipe.execute()
        lines = await asyncio.gather(*(self.store.transcript(key, _PREVIEW_LINES) for key in live))
        last = {key: _last_customer_line(entries) for key, entries in zip(live, lines, strict=True)}
        said = {key: _preview(line) for key, line in last.items()}
        said_at = {key: line.time if line else None for key, line in last.items()}
        waiting: list[WaitingCustomer] = []
        # The queue is only an index: a key whose conversation moved on is skipped.
        for key in waiting_keys:
            conv = live.get(key)
            if conv is None or conv.state is not ConversationState.QUEUED:
                continue
            waiting.append(
                WaitingCustomer(
                    customer_key=key,
                    position=len(waiting) + 1,
                    channel=conv.channel,
                    display_name=conv.display_name,
                    waiting_since=conv.queued_at,
                    last_message=said[key],
                    last_message_at=said_at[key],
                )
            )
        held = [c for c in live.values() if c.state is ConversationState.WITH_AGENT]
        held.sort(key=lambda c: c.claimed_at or 0.0)
        with_agents = [
            ActiveConversation(
                customer_key=conv.customer_key,
                channel=conv.channel,
                display_name=conv.display_name,
                agent=conv.agent_name,
                agent_id=conv.agent_id,
                claimed_at=conv.claimed_at,
                last_message=said[conv.customer_key],
                last_message_at=said_at[conv.customer_key],
            )
            for conv in held
        ]
        return QueueView(waiting=waiting, with_agents=with_agents)

    async def conversation_view(self, conv: Conversation, limit: int) -> ConversationView:
        """One conversation with its transcript and the customer's earlier conversations."""
        key = conv.customer_key
        transcript, history, position, profile = await asyncio.gather(
            self.store.transcript(key, limit),
            customer_history(self.store, self.identities, key),
            self.queue.position(key),
            self.identities.profile(key, language=conv.locale),
        )
        return ConversationView(
            customer_key=key,
            conversation_id=conv.id,
            channel=conv.channel,
            display_name=conv.display_name,
            locale=conv.locale,
            state=conv.state,
            agent=conv.agent_name if conv.state is not ConversationState.QUEUED else None,
            agent_id=conv.agent_id if conv.state is not ConversationState.QUEUED else None,
            position=position if conv.state is ConversationState.QUEUED else None,
            queued_at=conv.queued_at,
            claimed_at=conv.claimed_at,
            started_at=conv.started_at,
            transcript=transcript,
            history=history,
            identities=profile.identities,
            vip=profile.vip,
        )

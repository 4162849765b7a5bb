"""Conversations in Redis: one hash per customer, every change compare-and-set."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from bot.applied_marks import APPLIED_FIELD, APPLIED_VALUE, held_for_acknowledgement
from bot.conversation import (
    Conversation,
    ConversationState,
    Effects,
    Step,
    StoredEvent,
    TranscriptEntry,
)
from bot.storage import Keys, run_script_replicated
from bot.store.scripts import load_script

TRANSCRIPT_CAP = 200


def _history_summary(before: Conversation | None, after: Conversation) -> str:
    """A one-line record of a conversation that just closed, for agents to see later."""
    if after.state is not ConversationState.CLOSED:
        return ""
    if before is not None and before.state is ConversationState.CLOSED:
        return ""
    return json.dumps(
        {
            "conversation_id": after.id,
            "channel": after.channel,
            "channels": list(after.channels) or [after.channel],
            "started_at": after.started_at,
            "closed_at": after.updated_at,
            "agent": after.agent_name,
            "agent_id": after.agent_id,
            "faq_answered": after.faq_answered,
        },
        ensure_ascii=False,
    )


class RedisConversationStore:
    """The `bot.conversation.ConversationStore` on Redis."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        ttl_seconds: int,
        dedupe_ttl_seconds: int,
        ttl_without_reply_seconds: int | None = None,
    ):
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds
        self._dedupe_ttl = dedupe_ttl_seconds
        self._ttl_without_reply = min(ttl_seconds, ttl_without_reply_seconds or ttl_seconds)
        self._commit = load_script(redis, "commit_step")
        self._save = load_script(redis, "save_conversation")

    async def load(self, customer_key: str) -> Conversation | None:
        """The customer's current conversation, or None if there is none (or it expired)."""
        doc, version = await self._redis.hmget(
            self._keys.conversation(customer_key), ["doc", "version"]
        )
        return _conversation(doc, version)

    async def handled(self, customer_key: str, event_id: str) -> StoredEvent | None:
        """What handling this event decided, if it was handled already."""
        effects, applied = await self._redis.hmget(
            self._keys.event(customer_key, event_id), ["effects", "applied"]
        )
        return _stored_event(effects, applied)

    async def handled_and_load(
        self, customer_key: str, event_id: str
    ) -> tuple[StoredEvent | None, Conversation | None]:
        """`handled` and `load` in one round trip (both keys share the customer's slot)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._keys.event(customer_key, event_id), ["effects", "applied"])
            pipe.hmget(self._keys.conversation(customer_key), ["doc", "version"])
            (effects, applied), (doc, version) = await pipe.execute()
        return _stored_event(effects, applied), _conversation(doc, version)

    async def linked_handled_and_load(
        self, identity: str, customer_key: str, event_id: str
    ) -> tuple[str | None, StoredEvent | None, Conversation | None]:
        """The customer `identity` is linked to (None when it is not linked: the key
        `Identities.resolve` reads), and `handled_and_load` for `customer_key`, the
        customer the event is presumed to be of, in one round trip. (Not a transaction:
        the link is in the identities' slot, the rest in the customer's.)"""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._keys.identity_link(identity))
            pipe.hmget(self._keys.event(customer_key, event_id), ["effects", "applied"])
            pipe.hmget(self._keys.conversation(customer_key), ["doc", "version"])
            linked, (effects, applied), (doc, version) = await pipe.execute()
        return (
            str(linked) if linked else None,
            _stored_event(effects, applied),
            _conversation(doc, version),
        )

    def ttl_of(self, conversation: Conversation) -> int:
        """How long a conversation is kept after its last change: a conversation the
        customer never wrote in (a start, a greeting, nothing more) costs storage for no
        one, so it goes sooner (`CONVERSATION_TTL_WITHOUT_REPLY_SECONDS`)."""
        return self._ttl if conversation.customer_messages > 0 else self._ttl_without_reply

    async def commit(self, event_id: str, step: Step, expected_version: int) -> bool:
        """Save a step; False if the conversation moved on or the event was saved before."""
        conversation = step.conversation
        key = conversation.customer_key
        ttl = self.ttl_of(conversation)
        step.effects.conversation_id = conversation.id
        before = await self.load(key) if conversation.state is ConversationState.CLOSED else None
        # Replicated before anything is sent: a failover must not forget a decision whose
        # replies went out, or the replay would decide (and say) it again.
        result = await run_script_replicated(
            self._redis,
            self._commit,
            keys=[
                self._keys.conversation(key),
                self._keys.transcript(key),
                self._keys.event(key, event_id),
                self._keys.history(key),
            ],
            args=[
                expected_version,
                conversation.model_dump_json(),
                conversation.id,
                ttl,
                step.effects.model_dump_json(),
                min(self._dedupe_ttl, ttl),
                TRANSCRIPT_CAP,
                _history_summary(before, conversation),
                *[entry.model_dump_json() for entry in step.transcript],
            ],
        )
        return int(result) == 1

    async def mark_applied(
        self, customer_key: str, event_id: str, *, with_acknowledgement: bool = False
    ) -> None:
        """Record that the event's effects were carried out, so a replay does nothing.

        `with_acknowledgement`, for the inbox event being handled: in an inbox worker's
        handler the mark goes out with the event's acknowledgement (`bot.applied_marks`:
        one round trip for both); anywhere else it is written now.
        """
        key = self._keys.event(customer_key, event_id)
        if not (with_acknowledgement and held_for_acknowledgement(key)):
            await self._redis.hset(key, APPLIED_FIELD, APPLIED_VALUE)

    async def save(self, conversation: Conversation, expected_version: int) -> bool:
        """Compare-and-set a conversation outside any event (maintenance and tests)."""
        key = conversation.customer_key
        before = await self.load(key)
        result = await self._save(
            keys=[self._keys.conversation(key), self._keys.history(key)],
            args=[
                expected_version,
                conversation.model_dump_json(),
                conversation.id,
                self._ttl,
                _history_summary(before, conversation),
            ],
        )
        return int(result) == 1

    async def append_transcript(
        self, customer_key: str, entry: TranscriptEntry, *, once_per: str | None = None
    ) -> None:
        """Add one line to the transcript (an agent's reply, a system note).

        With `once_per`, a second call with the same id adds nothing (a retried action).
        """
        if once_per is not None:
            marker = self._keys.sent(customer_key, f"transcript:{once_per}")
            if not await self._redis.set(marker, "1", nx=True, ex=self._dedupe_ttl):
                return
        key = self._keys.transcript(customer_key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, entry.model_dump_json())
            pipe.ltrim(key, -TRANSCRIPT_CAP, -1)
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def transcript(self, customer_key: str, limit: int = 50) -> list[TranscriptEntry]:
        """The last `limit` lines of the customer's current conversation, oldest first."""
        raw = await self._redis.lrange(self._keys.transcript(customer_key), -limit, -1)
        return [TranscriptEntry.model_validate_json(item) for item in raw]

    async def history(self, customer_key: str) -> list[dict[str, object]]:
        """Summaries of the customer's earlier conversations, newest first."""
        raw = await self._redis.lrange(self._keys.history(customer_key), 0, -1)
        return [json.loads(item) for item in raw]


def _conversation(doc: str | bytes | None, version: str | bytes | None) -> Conversation | None:
    if doc is None:
        return None
    conversation = Conversation.model_validate_json(doc)
    conversation.version = int(version or 0)
    return conversation


def _stored_event(effects: str | bytes | None, applied: str | bytes | None) -> StoredEvent | None:
    if effects is None:
        return None
    return StoredEvent(effects=Effects.model_validate_json(effects), applied=applied == "1")

"""Conversations an admin can find: every conversation indexed when it starts, its
transcript kept when it ends, searched and exported by /admin and `tsunagu conversations`.

A conversation is indexed by its start time (`Keys.archive_index`) with the key it is
stored under; while it is open it is read from the live store, once it ends its record and
transcript are copied into `Keys.archive(id)`, kept as long as the report records
(`RECORDS_RETENTION_DAYS`).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.conversation import Conversation, ConversationStore, TranscriptEntry
from bot.privacy.mask import mask_personal_data
from bot.records import ConversationRecord, RecordStore, SurveyResponse, resolution_of
from bot.storage import Keys

Outcome = Literal["bot_only", "handed_off", "unanswered"]
TRANSCRIPT_KEPT = 200
_INDEX_TRIM_SECONDS = 60.0


class ArchivedConversation(BaseModel):
    """One conversation as an admin reads it: across channels, with what the bot tried,
    the handoff times and the survey answers."""

    conversation_id: str
    customer_key: str
    channels: list[str]
    display_name: str | None = None
    started_at: float
    ended_at: float | None = Field(default=None, description="None while it is open.")
    state: str
    resolution: str
    agent: str | None = None
    agent_id: str | None = None
    handed_off: bool = False
    queued_at: float | None = None
    claimed_at: float | None = None
    faq_answered: list[str] = Field(default_factory=list)
    faq_suggested: list[str] = Field(default_factory=list)
    unanswered: int = Field(default=0, description="Questions the bot could not answer.")
    customer_messages: int = 0
    survey: list[SurveyResponse] = Field(default_factory=list)
    transcript: list[TranscriptEntry] = Field(default_factory=list)

    @property
    def ces(self) -> int | None:
        """The CES score given, if any."""
        return next((r.score for r in self.survey if r.question == "ces"), None)

    @property
    def outcomes(self) -> set[Outcome]:
        """Which of the admin's outcome filters the conversation matches."""
        found: set[Outcome] = {"handed_off"} if self.handed_off else {"bot_only"}
        if self.unanswered or (self.handed_off and self.agent_id is None):
            found.add("unanswered")
        return found


class ConversationQuery(BaseModel):
    """What the admin searches for; every given filter must match."""

    text: str | None = Field(default=None, max_length=200, description="Words in the transcript.")
    channel: str | None = Field(default=None, max_length=20)
    since: float | None = Field(default=None, description="Started at or after (epoch s).")
    until: float | None = Field(default=None, description="Started before (epoch s).")
    ces_min: int | None = Field(default=None, ge=1, le=7)
    ces_max: int | None = Field(default=None, ge=1, le=7)
    agent: str | None = Field(default=None, max_length=100, description="Agent id or name.")
    outcome: Outcome | None = None
    limit: int = Field(default=50, ge=1, le=500)


def query_between(
    *,
    since: date | None,
    until: date | None,
    tz: tzinfo,
    text: str | None = None,
    channel: str | None = None,
    ces_min: int | None = None,
    ces_max: int | None = None,
    agent: str | None = None,
    outcome: Outcome | None = None,
    limit: int = 50,
) -> ConversationQuery:
    """A search whose dates are whole days in `tz`, both included (`since` 2026-11-30:
    from that day's midnight; `until` 2026-11-30: up to the next midnight); empty text
    filters are no filters."""

    def start_of(day: date) -> float:
        return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()

    return ConversationQuery(
        text=text or None,
        channel=channel or None,
        since=start_of(since) if since else None,
        until=start_of(until + timedelta(days=1)) if until else None,
        ces_min=ces_min,
        ces_max=ces_max,
        agent=agent or None,
        outcome=outcome,
        limit=limit,
    )


def masked(item: ArchivedConversation) -> ArchivedConversation:
    """`item` with personal data (phone numbers, e-mail, postal codes, card-like numbers,
    My Numbers) masked in every transcript line: what /admin, its downloads and `tsunagu
    conversations` show, and what their text search looks in, so what cannot be seen
    cannot be searched for either."""
    lines = [
        entry.model_copy(update={"text": mask_personal_data(entry.text)})
        for entry in item.transcript
    ]
    return item.model_copy(update={"transcript": lines})


def fold(text: str) -> str:
    """NFKC and case-folded, so ｓｈｉｐｐｉｎｇ finds Shipping."""
    return unicodedata.normalize("NFKC", text).casefold()


def matches(item: ArchivedConversation, query: ConversationQuery) -> bool:
    """Whether one conversation passes every filter of `query`.

    A conversation the customer never wrote in (a widget opened and left, a greeting) is
    nobody's story and is never listed.
    """
    if item.customer_messages == 0:
        return False
    if query.channel and query.channel not in item.channels:
        return False
    if query.since is not None and item.started_at < query.since:
        return False
    if query.until is not None and item.started_at >= query.until:
        return False
    ces = item.ces
    if query.ces_min is not None and (ces is None or ces < query.ces_min):
        return False
    if query.ces_max is not None and (ces is None or ces > query.ces_max):
        return False
    if query.agent:
        wanted = fold(query.agent)
        if not any(
            wanted == fold(x) or wanted in fold(x) for x in (item.agent_id, item.agent) if x
        ):
            return False
    if query.outcome and query.outcome not in item.outcomes:
        return False
    if query.text:
        wanted = fold(query.text.strip())
        if not any(wanted in fold(entry.text) for entry in item.transcript):
            return False
    return True


class ConversationArchive:
    """Indexes conversations, keeps ended ones, and finds them."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        store: ConversationStore,
        records: RecordStore,
        *,
        retention_days: float,
        clock: Clock = SYSTEM_CLOCK,
        shown: Callable[[ArchivedConversation], ArchivedConversation] | None = None,
    ):
        """`shown`: how a conversation is shown (and searched) once read, e.g. `masked`
        (`PII_MASK_REPORTS`)."""
        self._redis = redis
        self._keys = keys
        self._store = store
        self._records = records
        self._ttl = int(retention_days * 86400)
        self._clock = clock
        self._index_trimmed_at = float("-inf")
        self._shown = shown

    async def opened(self, conversation_id: str, customer_key: str, started_at: float) -> None:
        """Index a conversation that just started (idempotent)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            self.opened_in(pipe, conversation_id, customer_key, started_at)
            await pipe.execute()

    def opened_in(
        self, pipe: Any, conversation_id: str, customer_key: str, started_at: float
    ) -> None:
        """`opened`, queued in a pipeline of the caller's (not a transaction: the index and
        the conversation's own key are in different cluster slots)."""
        pipe.zadd(self._keys.archive_index(), {conversation_id: started_at}, nx=True)
        pipe.set(
            self._keys.archive(conversation_id),
            json.dumps({"customer_key": customer_key}),
            nx=True,
            ex=self._ttl,
        )
        now = self._clock.now()
        if now - self._index_trimmed_at >= _INDEX_TRIM_SECONDS:
            # Entries past retention leave the index, at most once a minute per process
            # (retention is counted in days; a command less on most conversations' start).
            self._index_trimmed_at = now
            pipe.zremrangebyscore(self._keys.archive_index(), "-inf", now - self._ttl)
            # Nothing about customers is kept forever: an index nobody writes to goes too.
            pipe.expire(self._keys.archive_index(), self._ttl)

    async def ended(self, record: ConversationRecord, customer_key: str) -> None:
        """Keep an ended conversation's record and transcript (once: a replay after the
        customer started anew must not copy the new transcript)."""
        key = self._keys.archive(record.conversation_id)
        raw = await self._redis.get(key)
        if raw and "record" in json.loads(raw):
            return
        live = await self._store.load(customer_key)
        transcript = (
            await self._store.transcript(customer_key, TRANSCRIPT_KEPT)
            if live is not None and live.id == record.conversation_id
            else []
        )
        doc = {
            "customer_key": customer_key,
            "record": record.model_dump(mode="json"),
            "conversation": live.model_dump(mode="json") if live is not None else None,
            "transcript": [entry.model_dump(mode="json") for entry in transcript],
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, json.dumps(doc, ensure_ascii=False), ex=self._ttl)
            pipe.zadd(self._keys.archive_index(), {record.conversation_id: record.started_at})
            pipe.expire(self._keys.archive_index(), self._ttl)
            await pipe.execute()

    async def search(self, query: ConversationQuery) -> list[ArchivedConversation]:
        """Conversations matching `query`, newest first, at most `query.limit`."""
        low = query.since if query.since is not None else "-inf"
        high = f"({query.until}" if query.until is not None else "+inf"
        ids = [
            str(i)
            for i in await self._redis.zrevrangebyscore(self._keys.archive_index(), high, low)
        ]
        surveys = await self._surveys()
        found: list[ArchivedConversation] = []
        for start in range(0, len(ids), 100):
            for item in await self._read(ids[start : start + 100], surveys):
                if matches(item, query):
                    found.append(item)
                    if len(found) >= query.limit:
                        return found
        return found

    async def get(self, conversation_id: str) -> ArchivedConversation | None:
        """One conversation, or None if it is unknown (or past retention)."""
        items = await self._read([conversation_id], await self._surveys())
        return items[0] if items else None

    async def _surveys(self) -> dict[str, list[SurveyResponse]]:
        by_conversation: dict[str, list[SurveyResponse]] = {}
        async for response in self._records.read(SurveyResponse):
            by_conversation.setdefault(response.conversation_id, []).append(response)
        return by_conversation

    async def _read(
        self, ids: list[str], surveys: dict[str, list[SurveyResponse]]
    ) -> list[ArchivedConversation]:
        if not ids:
            return []
        docs = await self._redis.mget([self._keys.archive(i) for i in ids])
        items = []
        for conversation_id, raw in zip(ids, docs, strict=True):
            if not raw:
                continue
            doc = json.loads(raw)
            item = await self._assemble(conversation_id, doc)
            if item is not None:
                item.survey = surveys.get(conversation_id, [])
                items.append(self._shown(item) if self._shown else item)
        return items

    async def _assemble(
        self, conversation_id: str, doc: dict[str, object]
    ) -> ArchivedConversation | None:
        customer_key = str(doc["customer_key"])
        record = doc.get("record")
        if isinstance(record, dict):
            conversation = doc.get("conversation")
            live = Conversation.model_validate(conversation) if conversation else None
            transcript = [TranscriptEntry.model_validate(e) for e in doc.get("transcript") or []]  # type: ignore[attr-defined]
            return _from_record(ConversationRecord.model_validate(record), live, transcript)
        live = await self._store.load(customer_key)
        if live is None or live.id != conversation_id:
            return None  # expired before it was seen to end
        transcript = await self._store.transcript(customer_key, TRANSCRIPT_KEPT)
        return _from_live(live, transcript)


def _channels(
    conversation: Conversation | None, fallback: str, lines: Iterable[TranscriptEntry]
) -> list[str]:
    seen = list(conversation.channels) if conversation is not None else []
    seen += [e.channel for e in lines if e.channel]
    return list(dict.fromkeys(seen)) or [fallback]


def _from_live(live: Conversation, transcript: list[TranscriptEntry]) -> ArchivedConversation:
    return ArchivedConversation(
        conversation_id=live.id,
        customer_key=live.customer_key,
        channels=_channels(live, live.channel, transcript),
        display_name=live.display_name,
        started_at=live.started_at,
        state=live.state.value,
        resolution=resolution_of(
            handed_off=live.queued_at is not None,
            agent=live.agent_id,
            bot_answered=bool(live.faq_answered),
        ),
        agent=live.agent_name,
        agent_id=live.agent_id,
        handed_off=live.queued_at is not None,
        queued_at=live.queued_at,
        claimed_at=live.claimed_at,
        faq_answered=list(live.faq_answered),
        faq_suggested=list(live.faq_suggested),
        unanswered=len(live.unanswered_questions),
        customer_messages=live.customer_messages,
        transcript=transcript,
    )


def _from_record(
    record: ConversationRecord, live: Conversation | None, transcript: list[TranscriptEntry]
) -> ArchivedConversation:
    return ArchivedConversation(
        conversation_id=record.conversation_id,
        customer_key=record.customer_key,
        channels=_channels(live, record.channel, transcript),
        display_name=live.display_name if live is not None else None,
        started_at=record.started_at,
        ended_at=record.ended_at,
        state="closed",
        resolution=record.resolution,
        agent=record.agent,
        agent_id=record.agent_id,
        handed_off=record.handed_off,
        queued_at=live.queued_at if live is not None else None,
        claimed_at=live.claimed_at if live is not None else None,
        faq_answered=record.faq_answered,
        faq_suggested=record.faq_suggested,
        unanswered=len(live.unanswered_questions) if live is not None else 0,
        customer_messages=record.customer_messages,
        transcript=transcript,
    )


CSV_COLUMNS = (
    "conversation_id",
    "customer_key",
    "channels",
    "started_at",
    "ended_at",
    "state",
    "resolution",
    "agent",
    "agent_id",
    "ces",
    "faq_answered",
    "time",
    "channel",
    "sender",
    "sender_name",
    "text",
)


def conversations_rows(items: Iterable[ArchivedConversation], tz: tzinfo) -> list[list[object]]:
    """One CSV row per transcript line, each carrying its conversation's columns."""

    def at(value: float | None) -> str:
        return datetime.fromtimestamp(value, tz).isoformat(timespec="seconds") if value else ""

    rows: list[list[object]] = []
    for item in items:
        head: list[object] = [
            item.conversation_id,
            item.customer_key,
            " ".join(item.channels),
            at(item.started_at),
            at(item.ended_at),
            item.state,
            item.resolution,
            item.agent or "",
            item.agent_id or "",
            item.ces if item.ces is not None else "",
            " ".join(item.faq_answered),
        ]
        for entry in item.transcript or [None]:  # type: ignore[list-item]
            if entry is None:
                rows.append([*head, "", "", "", "", ""])
                continue
            rows.append(
                [
                    *head,
                    at(entry.time),
                    entry.channel or "",
                    entry.sender,
                    entry.sender_name or "",
                    entry.text,
                ]
            )
    return rows

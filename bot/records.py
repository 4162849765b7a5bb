"""What the reports are made of: one record per ended conversation, per survey answer and
per message the bot could not answer, kept in Redis streams for `RECORDS_RETENTION_DAYS`
and at most `RECORDS_MAX_ENTRIES` per kind. Survey comments and unanswered messages are
clipped to `RECORD_TEXT_MAX_CHARS`, so those streams have a size bound
(docs/reliability.md has the arithmetic).

Three more kinds are labelled examples the FAQ learns from (`tsunagu faq learn`): a
"did you mean…?" choice a customer tapped, an answer they said did not solve it, and an
agent's reply to a conversation the bot could not answer. The help center adds a record per
search and per "did this article solve it?" answer, and the agent console one per reply
sent beside FAQ suggestions (used, edited or ignored); their free texts are clipped too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Literal, TypeVar, cast

from pydantic import BaseModel, Field, field_validator
from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.model import ChannelName
from bot.storage import Keys

Resolution = Literal["bot", "agent", "abandoned"]
SurveyStatus = Literal["answered", "unanswered", "not_asked"]
Question = Literal["ces", "csat", "nps"]

RECORD_TEXT_MAX_CHARS = 500


def clip_record_text(text: str | None) -> str | None:
    """A customer's free text as a report keeps it: its first `RECORD_TEXT_MAX_CHARS`
    characters (enough to read and group it; a 4,000-character paste is not kept whole)."""
    if text is None or len(text) <= RECORD_TEXT_MAX_CHARS:
        return text
    return text[: RECORD_TEXT_MAX_CHARS - 1] + "…"


class ConversationRecord(BaseModel):
    """A conversation that ended, with what happened in it."""

    conversation_id: str
    customer_key: str
    channel: ChannelName
    started_at: float
    ended_at: float = Field(default_factory=time.time)
    resolution: Resolution = Field(
        description="bot: never handed off; agent: an agent took it; abandoned: handed off "
        "but nobody took it, or the customer left first."
    )
    agent: str | None = Field(default=None, description="The agent's name when it ended.")
    agent_id: str | None = Field(
        default=None, description="The agent's stable id (`slack:U…`, `console:…`, `admin:…`)."
    )
    takeovers: int = Field(default=0, description="Times an agent took it from another.")
    faq_answered: list[str] = Field(default_factory=list)
    faq_suggested: list[str] = Field(default_factory=list)
    handed_off: bool = False
    wait_seconds: float | None = Field(default=None, description="Queued until claimed.")
    first_response_seconds: float | None = Field(
        default=None, description="Queued until the agent's first reply."
    )
    handle_seconds: float | None = Field(default=None, description="Claimed until closed.")
    customer_messages: int = 0
    survey: SurveyStatus = "not_asked"


class SurveyResponse(BaseModel):
    """A customer's answer to a survey question."""

    conversation_id: str
    customer_key: str
    channel: ChannelName
    question: Question = "ces"
    score: int
    scale_low: int = 1
    scale_high: int = 7
    comment: str | None = None
    resolved_by: str = Field(description="'bot' or the agent's name.")
    agent_id: str | None = Field(default=None, description="The agent's stable id, if any.")
    faq_ids: list[str] = Field(default_factory=list)
    wait_seconds: float | None = None
    handle_seconds: float | None = None
    time: float = Field(default_factory=time.time)

    _clip_comment = field_validator("comment")(clip_record_text)


class UnansweredMessage(BaseModel):
    """A customer message the FAQ had no answer for (candidates for new entries)."""

    text: str
    channel: ChannelName
    conversation_id: str
    best_faq_id: str | None = None
    best_score: float | None = None
    time: float = Field(default_factory=time.time)

    _clip_text = field_validator("text")(clip_record_text)

    @property
    def source(self) -> str:
        """Where the message was written: its channel."""
        return self.channel


class FaqChoice(BaseModel):
    """A customer tapped one of the "did you mean…?" choices: their words meant that entry."""

    question: str = Field(description="What the customer typed.")
    faq_id: str = Field(description="The entry they tapped.")
    offered: list[str] = Field(description="Every entry offered, in order.")
    customer_key: str
    channel: ChannelName
    conversation_id: str
    time: float = Field(default_factory=time.time)


class FaqRejected(BaseModel):
    """A customer said an answer did not solve their problem (「解決しない」 / No)."""

    faq_id: str = Field(description="The entry answered.")
    question: str | None = Field(
        description="What the customer typed; None when they tapped a topic button."
    )
    customer_key: str
    channel: ChannelName
    conversation_id: str
    time: float = Field(default_factory=time.time)


class AgentAnswered(BaseModel):
    """An agent's first reply in a conversation whose questions the bot could not answer."""

    questions: list[str] = Field(description="The customer's unanswered questions, in order.")
    reply: str = Field(description="The agent's first reply.")
    agent: str = Field(description="The agent's name.")
    agent_id: str | None = Field(default=None, description="The agent's stable id.")
    customer_key: str
    channel: ChannelName
    conversation_id: str
    time: float = Field(default_factory=time.time)


HelpSearchOutcome = Literal["answer", "suggest", "none"]


class HelpSearch(BaseModel):
    """A search in the help center, with what the matcher found.

    Searches with outcome `none` are questions the FAQ has no entry for: they join the
    unanswered messages in the report's groups, as do the bot's.
    """

    text: str = Field(description="What the visitor searched for.")
    language: str = Field(description="The page's language, 'ja' or 'en'.")
    outcome: HelpSearchOutcome = Field(
        description="The matcher's decision: a clear best entry, 'did you mean', or nothing."
    )
    results: list[str] = Field(default_factory=list, description="FAQ ids shown, best first.")
    best_faq_id: str | None = Field(default=None, description="The closest entry, shown or not.")
    best_score: float | None = None
    time: float = Field(default_factory=time.time)

    _clip_text = field_validator("text")(clip_record_text)

    @property
    def source(self) -> str:
        """Where the question was asked: the help center."""
        return "help"


class HelpFeedback(BaseModel):
    """A reader's answer to "Did this article solve it?" under a help-center entry.

    A reader who says no may add a comment afterwards: that arrives as a second record with
    the same `feedback_id`, and the newest record of an id is the one that counts.
    """

    feedback_id: str = Field(description="Random id; later records of the same id replace it.")
    faq_id: str
    helpful: bool
    comment: str | None = None
    language: str
    time: float = Field(default_factory=time.time)

    _clip_comment = field_validator("comment")(clip_record_text)


def current_feedback(feedback: Iterable[HelpFeedback]) -> list[HelpFeedback]:
    """Each reader's answer once: the newest record of each `feedback_id` (the one with the
    comment, if they added one)."""
    latest: dict[str, HelpFeedback] = {}
    for f in sorted(feedback, key=lambda f: f.time):
        latest[f.feedback_id] = f
    return list(latest.values())


SuggestionOutcome = Literal["used", "edited", "ignored"]


class AgentSuggestion(BaseModel):
    """What an agent did with the FAQ answers suggested beside a customer's message.

    `used`: the agent sent the entry's answer as suggested; `edited`: they sent it changed
    (`reply` holds what they sent); `ignored`: they answered something else while `faq_id`
    was the top suggestion. With the customer's `message`, each is a labelled example of
    how customers ask for (or not for) that entry.
    """

    customer_key: str
    conversation_id: str
    channel: ChannelName
    agent: str = Field(description="The agent's display name when they replied.")
    agent_id: str | None = Field(
        default=None, description="The agent's stable id (absent in records from before ids)."
    )
    message: str = Field(description="The customer's message the suggestions were for.")
    faq_id: str
    score: float | None = Field(default=None, description="The matcher's score (0-1).")
    outcome: SuggestionOutcome
    reply: str | None = Field(default=None, description="What the agent sent, when edited.")
    time: float = Field(default_factory=time.time)

    _clip_texts = field_validator("message", "reply")(clip_record_text)


def resolution_of(*, handed_off: bool, agent: str | None, bot_answered: bool) -> Resolution:
    """How a conversation ended: by the bot, by an agent (`agent`: any id of one), or nobody."""
    if agent:
        return "agent"
    if handed_off or not bot_answered:
        return "abandoned"
    return "bot"


Record = TypeVar(
    "Record",
    ConversationRecord,
    SurveyResponse,
    UnansweredMessage,
    FaqChoice,
    FaqRejected,
    AgentAnswered,
    HelpSearch,
    HelpFeedback,
    AgentSuggestion,
)
_STREAMS: dict[type[BaseModel], str] = {
    ConversationRecord: "conversations",
    SurveyResponse: "surveys",
    UnansweredMessage: "unanswered",
    FaqChoice: "faq_choice",
    FaqRejected: "faq_rejected",
    AgentAnswered: "agent_answered",
    HelpSearch: "help_searches",
    HelpFeedback: "help_feedback",
    AgentSuggestion: "agent_suggestions",
}
# Streams whose records carry a `customer_key` (what `tsunagu forget` erases by customer).
CUSTOMER_STREAMS = (
    "conversations",
    "surveys",
    "faq_choice",
    "faq_rejected",
    "agent_answered",
    "agent_suggestions",
)


# Lua that sets `ms` to the clock's millisecond (ARGV[1]), or to the stream's (KEYS[1]) newest
# entry's if that is later (another process's clock a little ahead): an entry appended at
# `ms .. '-*'` is never refused for being out of order. Shared by the streams that append so.
STREAM_MS_NOT_BEFORE_NEWEST = """
local ms = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local last = tonumber(string.match(info[i + 1], '^(%d+)'))
      if last > ms then ms = last end
    end
  end
end
"""

# Append a record at that millisecond, trimmed by age (ARGV[3]) and by count (ARGV[4]).
_ADD_NOW = (
    STREAM_MS_NOT_BEFORE_NEWEST
    + """
local id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[3], ms .. '-*', 'r', ARGV[2])
-- XADD takes one trimming rule: the count cap is a second, exact, trim.
redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[4])
return id
"""
)


class RecordStore:
    """Appends records to Redis streams and reads them back by time."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        retention_days: float,
        max_entries: int = 200_000,
        clock: Clock = SYSTEM_CLOCK,
        shown: Callable[[BaseModel], BaseModel] | None = None,
    ):
        """`shown` turns each record read into what readers may see (personal data masked:
        `bot.privacy.records.masked_record`); records are stored as given."""
        self._shown = shown
        self._redis = redis
        self._keys = keys
        self._retention_ms = int(retention_days * 86_400_000)
        self._max_entries = max_entries
        self.clock = clock
        self.redis = redis  # for readers that join records with other data (linked customers)
        self.keys = keys
        self._add_now = redis.register_script(_ADD_NOW)

    def _stream(self, kind: type[BaseModel]) -> str:
        return self._keys.records(_STREAMS[kind])

    async def add(
        self, record: BaseModel, *, dedupe_id: str | None = None, at: float | None = None
    ) -> bool:
        """Append a record (once per `dedupe_id`, if given); trims what is past retention
        and the oldest entries beyond `max_entries`.

        `at` files the record at an earlier time (epoch seconds), for importing history;
        records of one kind must then be added in time order.
        """
        if dedupe_id is not None:
            marker = self._keys.record_seen(_STREAMS[type(record)], dedupe_id)
            if not await self._redis.set(marker, "1", nx=True, px=self._retention_ms):
                return False
        # Stream ids are milliseconds of the runtime's clock (not Redis's, so that a report
        # at any instant finds what was filed then), and MINID trims by age.
        now_ms = int(self.clock.now() * 1000)
        cutoff = max(0, now_ms - self._retention_ms)
        stream, body = self._stream(type(record)), record.model_dump_json()
        if at is None:
            await self._add_now(keys=[stream], args=[now_ms, body, cutoff, self._max_entries])
            return True
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(stream, {"r": body}, id=f"{int(at * 1000)}-*", minid=cutoff, approximate=True)
            # XADD takes one trimming rule: the count cap is a second, exact, trim.
            pipe.xtrim(stream, maxlen=self._max_entries, approximate=False)
            await pipe.execute()
        return True

    async def read(
        self, kind: type[Record], since: float | None = None, until: float | None = None
    ) -> AsyncIterator[Record]:
        """Records of one kind added between `since` and `until` (epoch seconds), oldest first."""
        start = str(int(since * 1000)) if since is not None else "-"
        end = str(int(until * 1000)) if until is not None else "+"
        stream = self._stream(kind)
        while True:
            entries = cast(
                list[tuple[str, dict[str, str]]],
                await self._redis.xrange(stream, min=start, max=end, count=500),
            )
            for _, fields in entries:
                record = kind.model_validate_json(fields["r"])
                yield cast(Record, self._shown(record)) if self._shown else record
            if len(entries) < 500:
                return
            start = "(" + entries[-1][0]

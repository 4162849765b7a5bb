"""Conversations: their states, what is remembered of them, and the store they live in."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, model_validator

from bot.actor import Actor, legacy_id
from bot.model import ChannelName, Outgoing
from bot.records import (
    AgentAnswered,
    ConversationRecord,
    FaqChoice,
    FaqRejected,
    SurveyResponse,
    SurveyStatus,
    UnansweredMessage,
    resolution_of,
)


class ConversationState(StrEnum):
    """Who is talking with the customer now (see the state diagram in docs/design.md)."""

    BOT = "bot"
    QUEUED = "queued"  # waiting for an agent
    WITH_AGENT = "with_agent"
    SURVEY = "survey"  # the CES question was asked, waiting for the rating
    CLOSED = "closed"


class FaqTurn(BaseModel):
    """The bot's latest turn with the FAQ: what the customer asked and what it offered.

    Kept so the customer's next tap can be told apart: a "did you mean…?" choice names
    the entry their words meant; 「解決しない」 rejects the entry answered.
    """

    question: str | None = Field(
        default=None, description="What the customer typed; None after a topic button."
    )
    suggested: list[str] = Field(default_factory=list, description="The choices offered.")
    answered: str | None = Field(default=None, description="The entry answered.")


# Enough to show an agent's reply what it answered, without keeping a whole conversation.
UNANSWERED_KEPT = 5


class Takeover(BaseModel):
    """An agent took a conversation another agent held (an explicit, recorded action)."""

    agent_id: str
    agent_name: str
    from_agent_id: str
    from_agent_name: str | None = None
    time: float


class Conversation(BaseModel):
    """One customer's current conversation. A message after `closed` opens a new one."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    # Where the customer last wrote: replies go there.
    channel: ChannelName
    user_id: str
    # The customer's profile key, where the conversation is stored: the same whichever of
    # their linked channels they write on (`bot.identity`). None: `channel:user_id`.
    key: str | None = None
    channels: list[ChannelName] = Field(
        default_factory=list, description="Every channel the customer wrote on in it."
    )
    state: ConversationState = ConversationState.BOT
    locale: str | None = None
    display_name: str | None = None
    started_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    bot_failures: int = Field(default=0, description="Consecutive messages the bot couldn't help.")
    faq_answered: list[str] = Field(default_factory=list)
    faq_suggested: list[str] = Field(default_factory=list)
    faq_turn: FaqTurn | None = None
    unanswered_questions: list[str] = Field(
        default_factory=list,
        description=f"The last {UNANSWERED_KEPT} questions the bot could not answer.",
    )
    # Who holds (or last held) the conversation: the id decides, the name is shown.
    agent_id: str | None = None
    agent_name: str | None = None
    takeovers: list[Takeover] = Field(default_factory=list)
    queued_at: float | None = None
    priority: int = 0  # higher is served first
    claimed_at: float | None = None
    first_response_at: float | None = None
    customer_messages: int = 0
    # The survey: asked once per conversation; questions asked in order; a low score may
    # be followed by a free-text comment before the answer is recorded.
    surveyed: bool = False
    survey_index: int = 0
    survey_answered: bool = False
    pending_score: int | None = None
    # Carried from one conversation to the next, so a customer is not surveyed too often.
    last_surveyed_at: float | None = None
    # Bumped by every save; a save that expected another version lost a race and retries.
    version: int = 0

    @model_validator(mode="before")
    @classmethod
    def _agent_by_name_only(cls, data: Any) -> Any:
        """Read conversations stored when an agent was only a name (`agent`)."""
        if isinstance(data, dict) and "agent" in data and "agent_name" not in data:
            data = dict(data)
            name = data.pop("agent")
            data["agent_name"] = name
            data["agent_id"] = legacy_id(name) if name else None
        return data

    @property
    def customer_key(self) -> str:
        """The key of everything stored about this customer: their profile key, or
        `channel:user_id` for a conversation stored before channels could be linked."""
        return self.key or f"{self.channel}:{self.user_id}"

    @property
    def contact_key(self) -> str:
        """`channel:user_id` of the identity the customer last wrote from."""
        return f"{self.channel}:{self.user_id}"

    def note_unanswered(self, question: str) -> None:
        """Remember a question the bot could not answer (for the agent's reply to it)."""
        self.unanswered_questions = [*self.unanswered_questions, question][-UNANSWERED_KEPT:]

    @property
    def agent(self) -> Actor | None:
        """The agent who holds (or last held) the conversation, if any."""
        if self.agent_id is None:
            return None
        return Actor(id=self.agent_id, name=self.agent_name or self.agent_id)

    def assign(self, actor: Actor | None) -> None:
        """Make `actor` the conversation's agent (None: nobody)."""
        self.agent_id = actor.id if actor is not None else None
        self.agent_name = actor.name if actor is not None else None

    def to_record(self, ended_at: float) -> ConversationRecord:
        """The report record of this conversation, ending now."""
        survey: SurveyStatus = (
            "answered" if self.survey_answered else "unanswered" if self.surveyed else "not_asked"
        )

        def since(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else max(0.0, end - start)

        return ConversationRecord(
            conversation_id=self.id,
            customer_key=self.customer_key,
            channel=self.channel,
            started_at=self.started_at,
            ended_at=ended_at,
            resolution=resolution_of(
                handed_off=self.queued_at is not None,
                agent=self.agent_id,
                bot_answered=bool(self.faq_answered),
            ),
            agent=self.agent_name,
            agent_id=self.agent_id,
            takeovers=len(self.takeovers),
            faq_answered=list(self.faq_answered),
            faq_suggested=list(self.faq_suggested),
            handed_off=self.queued_at is not None,
            wait_seconds=since(self.queued_at, self.claimed_at),
            first_response_seconds=since(self.queued_at, self.first_response_at),
            handle_seconds=since(self.claimed_at, ended_at) if self.agent_id else None,
            customer_messages=self.customer_messages,
            survey=survey,
        )


class TranscriptEntry(BaseModel):
    """One line of a conversation's transcript, as an agent will read it."""

    time: float = Field(default_factory=time.time)
    sender: Literal["customer", "bot", "agent", "system"]
    sender_name: str | None = None
    text: str
    kind: str = "text"
    faq_ids: list[str] = Field(default_factory=list)
    channel: str | None = Field(
        default=None,
        description="The channel a customer's line was written on (an agent's line: the "
        "linked channel it was sent to, when the agent chose one).",
    )


class QueueAction(StrEnum):
    """What a step does to the handoff queue."""

    ENQUEUE = "enqueue"
    DEQUEUE = "dequeue"


DeskEventKind = Literal[
    "escalated",  # a customer joined the queue
    "customer_message",  # a queued or served customer wrote
    "cancelled",  # the customer went back to the bot
    "closed",  # the customer left
    "unclaimed",  # nobody took the customer within the queue timeout
    "low_score",  # a bad survey answer: worth a follow-up
    "delivery_failed",  # an agent's reply could not be delivered to the customer
    "claimed",  # an agent took a waiting customer (`text`: their name)
    "released",  # the agent put the customer back in the queue
    "agent_closed",  # an agent ended the conversation
    "taken_over",  # an agent took the conversation from the agent who held it
    "rated",  # the customer answered a survey question (`text`: "CES 6/7")
]


class DeskEvent(BaseModel):
    """Something agents' desks (Slack, the web console) should hear about."""

    kind: DeskEventKind
    customer_key: str
    conversation_id: str
    text: str = ""
    agent_id: str | None = Field(
        default=None, description="The agent who acted, for an agent's action (which desk)."
    )
    time: float = Field(default=0.0, description="When it happened (the step's clock).")


class TimerKind(StrEnum):
    """Things that happen when nothing happens."""

    IDLE = "idle"  # the customer went quiet: end the conversation (survey if helped)
    SURVEY_TIMEOUT = "survey_timeout"  # the survey went unanswered: record that, close
    QUEUE_TIMEOUT = "queue_timeout"  # no agent took the customer in time: tell them


class Timer(BaseModel):
    """A timer armed by a step; it fires as an event of the same conversation."""

    kind: TimerKind
    due_at: float


class Effects(BaseModel):
    """What must happen outside the conversation once a step is saved.

    Saved together with the step, so a crash between saving and doing replays exactly
    these effects; each one is idempotent.
    """

    conversation_id: str = Field(default="", description="The conversation they belong to.")
    opened_at: float | None = Field(
        default=None, description="The conversation started with this step (for /admin)."
    )
    outgoing: list[Outgoing] = Field(default_factory=list)
    queue: QueueAction | None = None
    queue_priority: int = 0
    queued_at: float | None = None
    wait_seconds: float | None = Field(default=None, description="A claim: how long it waited.")
    desk_events: list[DeskEvent] = Field(default_factory=list)
    timers: list[Timer] = Field(default_factory=list)
    survey_responses: list[SurveyResponse] = Field(default_factory=list)
    conversation_record: ConversationRecord | None = None
    unanswered: UnansweredMessage | None = None
    faq_choice: FaqChoice | None = None
    faq_rejected: FaqRejected | None = None
    agent_answered: AgentAnswered | None = None


class Step(BaseModel):
    """The outcome of handling one event: the new conversation, its transcript lines, effects."""

    conversation: Conversation
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    effects: Effects = Field(default_factory=Effects)


class StoredEvent(BaseModel):
    """What is remembered of a handled event."""

    effects: Effects
    applied: bool = False


class ConversationStore(Protocol):
    """Where conversations live; `bot.store.conversations.RedisConversationStore` is one."""

    async def load(self, customer_key: str) -> Conversation | None:
        """The customer's current conversation, or None."""
        ...

    async def handled(self, customer_key: str, event_id: str) -> StoredEvent | None:
        """What handling this event decided, if it was handled already."""
        ...

    async def handled_and_load(
        self, customer_key: str, event_id: str
    ) -> tuple[StoredEvent | None, Conversation | None]:
        """`handled` and `load` at once (one round trip)."""
        ...

    async def linked_handled_and_load(
        self, identity: str, customer_key: str, event_id: str
    ) -> tuple[str | None, StoredEvent | None, Conversation | None]:
        """The customer `identity` is linked to (None: not linked; `Identities.resolve`),
        with `handled_and_load(customer_key, event_id)`, in one round trip."""
        ...

    async def commit(self, event_id: str, step: Step, expected_version: int) -> bool:
        """Save a step atomically. False when the conversation changed since it was loaded."""
        ...

    async def mark_applied(
        self, customer_key: str, event_id: str, *, with_acknowledgement: bool = False
    ) -> None:
        """Record that the event's effects were all carried out; `with_acknowledgement`
        (the inbox event being handled): with its acknowledgement, if a worker holds the
        marks (`bot.applied_marks`)."""
        ...

    async def save(self, conversation: Conversation, expected_version: int) -> bool:
        """Compare-and-set a conversation outside any event (maintenance and tests).

        Agents' actions do not use it: they commit steps, like events.
        """
        ...

    async def transcript(self, customer_key: str, limit: int = 50) -> list[TranscriptEntry]:
        """The last `limit` transcript entries of the customer's current conversation."""
        ...

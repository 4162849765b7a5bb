"""FAQ answers suggested to an agent for the customer's latest message, and what they did.

`GET /agent/api/conversations/{customer_key}/suggestions` runs the bot's matcher on the
customer's newest message and returns the best entries with their answers in the
customer's language; the console shows them beside the reply box. After a reply, the
console reports whether the agent sent a suggestion as it was, edited it, or ignored the
suggestions (`POST …/suggestions/outcome`), filed as an `AgentSuggestion` record.

No `from __future__ import annotations` here: FastAPI reads the local aliases at import time.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from bot.conversation import Conversation, TranscriptEntry
from bot.faq import FaqLibrary, Outcome
from bot.helpcenter.search import worth_showing
from bot.intents import detect_language
from bot.records import AgentSuggestion, RecordStore, SuggestionOutcome
from bot.texts import language_of
from handoff.console.auth import Agent, BadName, ConsoleAuth
from handoff.console.schemas import CUSTOMER_KEY_PATTERN
from handoff.store import RedisConversationStore

MAX_SUGGESTIONS = 3
TRANSCRIPT_LOOKBACK = 50
FAQ_ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"

CustomerKey = Annotated[str, Path(pattern=CUSTOMER_KEY_PATTERN, description="`channel:user_id`.")]


class Suggestion(BaseModel):
    """One FAQ entry that may answer the message, ready to put in the reply box."""

    faq_id: str
    question: str = Field(description="The entry's question, in the customer's language.")
    answer: str = Field(description="The entry's answer, in the customer's language.")
    score: float = Field(description="The matcher's probability (0-1) that this entry is meant.")


class Suggestions(BaseModel):
    """The suggestions for the customer's newest message (none when nothing fits)."""

    customer_key: str
    message: str | None = Field(description="The customer's newest message, if any.")
    message_time: float | None
    language: str = Field(description="'ja' or 'en': the language of the answers.")
    outcome: Outcome = Field(description="What the bot itself would do with the message.")
    suggestions: list[Suggestion] = Field(description="Best first, at most three.")


class SuggestionReport(BaseModel):
    """What the agent did with the suggestions, sent after their reply went out."""

    model_config = ConfigDict(extra="forbid")

    faq_id: str = Field(pattern=FAQ_ID_PATTERN, description="The suggestion used, or the top one.")
    outcome: SuggestionOutcome
    message: str = Field(min_length=1, max_length=4000, description="The customer's message.")
    score: float | None = Field(default=None, ge=0, le=1)
    reply: str | None = Field(default=None, max_length=4000, description="What was sent.")


def latest_customer_message(transcript: list[TranscriptEntry]) -> TranscriptEntry | None:
    """The newest line the customer typed (taps on buttons included)."""
    return next((e for e in reversed(transcript) if e.sender == "customer" and e.text), None)


def suggest(
    faq: FaqLibrary, conversation: Conversation, message: TranscriptEntry | None
) -> Suggestions:
    """The FAQ entries for `message`, answers in the language the customer wrote in."""
    language = (detect_language(message.text) if message else None) or language_of(
        conversation.locale
    )
    if message is None:
        return Suggestions(
            customer_key=conversation.customer_key,
            message=None,
            message_time=None,
            language=language,
            outcome=Outcome.NONE,
            suggestions=[],
        )
    decision = faq.decide(message.text, language)
    shown = worth_showing(decision)[:MAX_SUGGESTIONS]
    return Suggestions(
        customer_key=conversation.customer_key,
        message=message.text,
        message_time=message.time,
        language=language,
        outcome=decision.outcome,
        suggestions=[
            Suggestion(
                faq_id=s.entry.id,
                question=s.entry.label_for(language),
                answer=s.entry.answer_for(language),
                score=round(s.score, 3),
            )
            for s in shown
        ],
    )


def build_suggestions_router(
    auth: ConsoleAuth, store: RedisConversationStore, faq: FaqLibrary, records: RecordStore
) -> APIRouter:
    """The suggestion routes under `/agent/api`, for any signed-in agent."""
    router = APIRouter(prefix="/agent/api", tags=["agent console"])

    def current_agent(
        authorization: Annotated[str | None, Header()] = None,
        x_agent_name: Annotated[str | None, Header()] = None,
    ) -> Agent:
        try:
            agent = auth.identify(authorization, x_agent_name)
        except BadName as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        if agent is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "expected 'Authorization: Bearer <admin or agent token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return agent

    SignedIn = Annotated[Agent, Depends(current_agent)]

    async def load(customer_key: str) -> Conversation:
        conversation = await store.load(customer_key)
        if conversation is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no conversation for that customer")
        return conversation

    @router.get(
        "/conversations/{customer_key}/suggestions",
        responses={404: {"description": "No live conversation for that customer."}},
    )
    async def suggestions(customer_key: CustomerKey, _: SignedIn) -> Suggestions:
        """The FAQ answers for the customer's newest message, best first, with scores."""
        conversation = await load(customer_key)
        transcript = await store.transcript(customer_key, limit=TRANSCRIPT_LOOKBACK)
        return suggest(faq, conversation, latest_customer_message(transcript))

    @router.post(
        "/conversations/{customer_key}/suggestions/outcome",
        status_code=status.HTTP_201_CREATED,
        responses={404: {"description": "No live conversation for that customer."}},
    )
    async def outcome(
        customer_key: CustomerKey, body: SuggestionReport, agent: SignedIn
    ) -> dict[str, bool]:
        """Record whether the reply used a suggestion as is, edited it, or ignored them."""
        actor = agent.actor
        if actor is None:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "with the admin token, name yourself in the 'X-Agent-Name' header",
            )
        if faq.entry(body.faq_id) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no such FAQ entry")
        conversation = await load(customer_key)
        await records.add(
            AgentSuggestion(
                customer_key=customer_key,
                conversation_id=conversation.id,
                channel=conversation.channel,
                agent=actor.name,
                agent_id=actor.id,
                message=body.message,
                faq_id=body.faq_id,
                score=body.score,
                outcome=body.outcome,
                reply=body.reply if body.outcome == "edited" else None,
            )
        )
        return {"recorded": True}

    return router

"""FAQ answers suggested to an agent in the console, and what they did with them.

`GET /agent/api/conversations/{customer_key}/suggestions` returns the best entries for the
customer's newest message with their answers in the customer's language
(`handoff.suggestions`, the rule the Slack desk uses too); the console shows them beside
the reply box. After a reply, the console reports whether the agent sent a suggestion as
it was, edited it, or ignored the suggestions (`POST …/suggestions/outcome`), filed as an
`AgentSuggestion` record.

No `from __future__ import annotations` here: FastAPI reads the local aliases at import time.
"""

from collections.abc import Collection
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from bot.conversation import Conversation
from bot.faq import FaqLibrary
from bot.records import RecordStore, SuggestionOutcome
from bot.store.conversations import RedisConversationStore
from handoff.console.api import known_channel_dependency
from handoff.console.auth import Agent, ConsoleAuth, agent_dependency
from handoff.console.privacy import ConsolePrivacy
from handoff.console.schemas import CUSTOMER_KEY_PATTERN
from handoff.suggestions import Suggestions, suggestion_record, suggestions_for

FAQ_ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"

CustomerKey = Annotated[str, Path(pattern=CUSTOMER_KEY_PATTERN, description="`channel:user_id`.")]


class SuggestionReport(BaseModel):
    """What the agent did with the suggestions, sent after their reply went out."""

    model_config = ConfigDict(extra="forbid")

    faq_id: str = Field(pattern=FAQ_ID_PATTERN, description="The suggestion used, or the top one.")
    outcome: SuggestionOutcome
    message: str = Field(min_length=1, max_length=4000, description="The customer's message.")
    score: float | None = Field(default=None, ge=0, le=1)
    reply: str | None = Field(default=None, max_length=4000, description="What was sent.")


def build_suggestions_router(
    auth: ConsoleAuth,
    store: RedisConversationStore,
    faq: FaqLibrary,
    records: RecordStore,
    privacy: ConsolePrivacy,
    channels: Collection[str] = (),
) -> APIRouter:
    """The suggestion routes under `/agent/api`, for any signed-in agent; `channels` are
    the registered channels' names (a key naming another is refused)."""
    router = APIRouter(
        prefix="/agent/api",
        tags=["agent console"],
        dependencies=[Depends(known_channel_dependency(channels))],
    )

    current_agent = agent_dependency(auth)

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
    async def suggestions(customer_key: CustomerKey, agent: SignedIn) -> Suggestions:
        """The FAQ answers for the customer's newest message, best first, with scores (the
        message masked for agents who do not hold the conversation)."""
        conversation = await load(customer_key)
        found = await suggestions_for(store, faq, conversation)
        return privacy.suggestions(found, conversation, agent.actor)

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
            suggestion_record(
                conversation,
                actor,
                message=body.message,
                faq_id=body.faq_id,
                outcome=body.outcome,
                now=records.clock.now(),
                score=body.score,
                reply=body.reply,
            )
        )
        return {"recorded": True}

    return router

"""FAQ answers suggested to an agent for the customer's latest message: one rule, both desks.

The console shows them beside the reply box; the Slack desk posts them in a claimed
conversation's thread with "Send this answer" buttons. What the agent did with them is
filed as an `AgentSuggestion` record, a labelled example for `tsunagu faq learn`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.actor import Actor
from bot.conversation import Conversation, TranscriptEntry
from bot.faq import FaqLibrary, Outcome
from bot.helpcenter.search import worth_showing
from bot.intents import detect_language
from bot.records import AgentSuggestion, SuggestionOutcome
from bot.store.conversations import RedisConversationStore
from bot.texts import language_of

MAX_SUGGESTIONS = 3
TRANSCRIPT_LOOKBACK = 50


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


async def suggestions_for(
    store: RedisConversationStore, faq: FaqLibrary, conversation: Conversation
) -> Suggestions:
    """The suggestions for the customer's newest message in `conversation`'s transcript."""
    transcript = await store.transcript(conversation.customer_key, limit=TRANSCRIPT_LOOKBACK)
    return suggest(faq, conversation, latest_customer_message(transcript))


def suggestion_record(
    conversation: Conversation,
    actor: Actor,
    *,
    message: str,
    faq_id: str,
    outcome: SuggestionOutcome,
    now: float,
    score: float | None = None,
    reply: str | None = None,
) -> AgentSuggestion:
    """What `actor` did with the suggestion `faq_id` for the customer's `message`.

    `now` is the runtime clock's time of the reply. The agent is filed by id (who exactly)
    and name (what reports show); an edited reply is kept, since it shows how the answer
    fell short.
    """
    return AgentSuggestion(
        customer_key=conversation.customer_key,
        conversation_id=conversation.id,
        channel=conversation.channel,
        agent=actor.name,
        agent_id=actor.id,
        message=message,
        faq_id=faq_id,
        score=score,
        outcome=outcome,
        reply=reply if outcome == "edited" else None,
        time=now,
    )

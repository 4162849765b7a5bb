"""What the bot decides for one event, by conversation state.

Each handler takes the conversation and the event and returns a `Step`: the changed
conversation, the transcript lines to add and the effects to carry out. Nothing here talks
to a channel; the dispatcher saves the step and then carries its effects out.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from bot import intents
from bot.conversation import (
    Conversation,
    ConversationState,
    DeskEvent,
    DeskEventKind,
    QueueAction,
    Step,
    SurveyAnswer,
    TranscriptEntry,
)
from bot.faq import FaqEntry, FaqLibrary, Outcome
from bot.model import Choice, Inbound, InboundKind, Outgoing, Reply, ReplyKind
from bot.ports import HandoffQueue
from bot.texts import Texts, language_of

# Payloads of the buttons the bot offers; they come back as `InboundKind.CHOICE`.
FAQ_PREFIX = "faq:"
RATING_PREFIX = "rating:"
HANDOFF = "handoff"
NONE_OF_THESE = "none"


@dataclass(frozen=True)
class FlowConfig:
    """The admin's choices that shape the conversation."""

    failures_before_handoff: int = 2
    handoff_trigger_words: tuple[str, ...] = ()
    greeting_topics: int = 4
    survey_low: int = 1
    survey_high: int = 7


@dataclass
class _Builder:
    """Collects one step's output while a handler runs."""

    conversation: Conversation
    inbound: Inbound
    language: str
    step: Step = field(init=False)

    def __post_init__(self) -> None:
        self.step = Step(conversation=self.conversation)

    def say(self, reply: Reply, faq_ids: list[str] | None = None) -> None:
        index = len(self.step.effects.outgoing)
        digest = hashlib.sha256(f"{self.inbound.event_id}#{index}".encode()).hexdigest()[:32]
        self.step.effects.outgoing.append(
            Outgoing(
                message_id=digest,
                channel=self.conversation.channel,
                user_id=self.conversation.user_id,
                conversation_id=self.conversation.id,
                reply=reply,
                meta=self.inbound.meta,
            )
        )
        self.step.transcript.append(
            TranscriptEntry(
                sender="bot", text=reply.text, kind=reply.kind.value, faq_ids=faq_ids or []
            )
        )

    def desk(self, kind: DeskEventKind, text: str = "") -> None:
        self.step.effects.desk_events.append(
            DeskEvent(
                kind=kind,
                customer_key=self.conversation.customer_key,
                conversation_id=self.conversation.id,
                text=text,
            )
        )


class Flow:
    """Turns (conversation, event) into a `Step`."""

    def __init__(self, faq: FaqLibrary, texts: Texts, queue: HandoffQueue, config: FlowConfig):
        self.faq = faq
        self.texts = texts
        self.queue = queue
        self.config = config

    async def step(self, current: Conversation | None, inbound: Inbound) -> Step:
        """Decide what happens for `inbound` given the customer's current conversation."""
        now = time.time()
        conversation = self._continue_or_start(current, inbound, now)
        language = (
            intents.detect_language(inbound.text) if inbound.kind is InboundKind.TEXT else None
        )
        language = language or language_of(inbound.locale or conversation.locale)
        conversation.locale = language
        b = _Builder(conversation, inbound, language)
        if inbound.text or inbound.kind is not InboundKind.FOLLOW:
            b.step.transcript.append(
                TranscriptEntry(
                    sender="customer",
                    sender_name=inbound.display_name,
                    text=inbound.text or (inbound.payload or ""),
                    kind=inbound.kind.value,
                )
            )

        if inbound.kind is InboundKind.UNFOLLOW:
            await self._close_silently(b)
        elif conversation.state is ConversationState.QUEUED:
            await self._while_queued(b)
        elif conversation.state is ConversationState.WITH_AGENT:
            b.desk("customer_message", inbound.text)
        elif conversation.state is ConversationState.SURVEY:
            await self._while_surveyed(b)
        else:
            await self._with_bot(b)
        conversation.updated_at = now
        return b.step

    def _continue_or_start(
        self, current: Conversation | None, inbound: Inbound, now: float
    ) -> Conversation:
        if current is not None and current.state is not ConversationState.CLOSED:
            conversation = current.model_copy(deep=True)
        else:
            conversation = Conversation(
                channel=inbound.channel,
                user_id=inbound.user_id,
                started_at=now,
                locale=inbound.locale,
            )
            # Keep the stored version: the new conversation replaces the closed one in place.
            conversation.version = current.version if current is not None else 0
        if inbound.display_name:
            conversation.display_name = inbound.display_name
        return conversation

    # -- bot state ---------------------------------------------------------------------

    async def _with_bot(self, b: _Builder) -> None:
        inbound, payload = b.inbound, b.inbound.payload or ""
        if inbound.kind is InboundKind.FOLLOW:
            self._greet(b)
        elif inbound.kind is InboundKind.MEDIA:
            self._say(b, "media_unsupported", ReplyKind.FALLBACK, [self._human_choice(b)])
        elif inbound.kind is InboundKind.CHOICE and payload.startswith(FAQ_PREFIX):
            entry = self.faq.entry(payload.removeprefix(FAQ_PREFIX))
            if entry is None:
                await self._no_answer(b)
            else:
                self._answer(b, entry)
        elif inbound.kind is InboundKind.CHOICE and payload == HANDOFF:
            await self._hand_off(b)
        elif inbound.kind is InboundKind.CHOICE and payload == NONE_OF_THESE:
            await self._no_answer(b)
        elif intents.asks_for_human(inbound.text, self.config.handoff_trigger_words):
            await self._hand_off(b)
        elif intents.says_thanks(inbound.text):
            self._finish(b)
        elif inbound.kind is InboundKind.CHOICE:
            await self._no_answer(b)  # a stale button from an earlier conversation
        else:
            await self._consult_faq(b)

    async def _consult_faq(self, b: _Builder) -> None:
        decision = self.faq.decide(b.inbound.text, b.language)
        if decision.outcome is Outcome.ANSWER:
            self._answer(b, decision.candidates[0].entry)
        elif decision.outcome is Outcome.SUGGEST:
            entries = [scored.entry for scored in decision.candidates[:3]]
            choices = [
                Choice(label=entry.label_for(b.language), payload=FAQ_PREFIX + entry.id)
                for entry in entries
            ]
            choices.append(
                Choice(label=self.texts.get("none_of_these", b.language), payload=NONE_OF_THESE)
            )
            b.conversation.faq_suggested.extend(entry.id for entry in entries)
            self._say(b, "suggest", ReplyKind.SUGGEST, choices, [e.id for e in entries])
        else:
            await self._no_answer(b)

    def _answer(self, b: _Builder, entry: FaqEntry) -> None:
        b.conversation.bot_failures = 0
        b.conversation.faq_answered.append(entry.id)
        reply = Reply(text=entry.answer_for(b.language), kind=ReplyKind.ANSWER)
        b.say(reply, faq_ids=[entry.id])

    async def _no_answer(self, b: _Builder) -> None:
        b.conversation.bot_failures += 1
        if b.conversation.bot_failures >= self.config.failures_before_handoff:
            await self._hand_off(b)
        else:
            self._say(b, "fallback", ReplyKind.FALLBACK, [self._human_choice(b)])

    def _greet(self, b: _Builder) -> None:
        topics = self.faq.top_entries(self.config.greeting_topics)
        choices = [
            Choice(label=entry.label_for(b.language), payload=FAQ_PREFIX + entry.id)
            for entry in topics
        ]
        self._say(b, "greeting", ReplyKind.GREETING, choices)

    def _finish(self, b: _Builder) -> None:
        """The customer is done: ask the CES question once, or just say goodbye."""
        conversation = b.conversation
        helped = bool(conversation.faq_answered or conversation.agent)
        if helped and not conversation.surveyed:
            self.ask_survey(b)
        else:
            self._say(b, "goodbye", ReplyKind.NOTICE)
            conversation.state = ConversationState.CLOSED

    def survey_reply(self, language: str) -> Reply:
        """The CES question with one button per point of the scale."""
        low, high = self.config.survey_low, self.config.survey_high
        choices = [
            Choice(label=str(n), payload=f"{RATING_PREFIX}{n}") for n in range(low, high + 1)
        ]
        text = self.texts.get("survey_question", language)
        return Reply(text=text, kind=ReplyKind.SURVEY, choices=choices)

    def ask_survey(self, b: _Builder) -> None:
        """Put the CES question and wait for the answer."""
        b.say(self.survey_reply(b.language))
        b.conversation.state = ConversationState.SURVEY
        b.conversation.surveyed = True

    # -- handoff -------------------------------------------------------------------------

    async def _hand_off(self, b: _Builder) -> None:
        conversation = b.conversation
        if conversation.state is not ConversationState.QUEUED:
            conversation.state = ConversationState.QUEUED
            conversation.queued_at = time.time()
            conversation.bot_failures = 0
            b.step.effects.queue = QueueAction.ENQUEUE
            b.step.effects.queued_at = conversation.queued_at
            b.desk("escalated", b.inbound.text)
            position = await self.queue.length() + 1
        else:
            position = await self.queue.position(conversation.customer_key) or 1
        wait = await self.queue.estimated_wait_seconds()
        wait_text = (
            self.texts.get("wait_unknown", b.language)
            if wait is None
            else self.texts.get("wait_minutes", b.language, minutes=max(1, math.ceil(wait / 60)))
        )
        self._say(b, "handoff_queued", ReplyKind.NOTICE, position=position, wait=wait_text)

    async def _while_queued(self, b: _Builder) -> None:
        text = b.inbound.text
        if intents.asks_to_cancel(text):
            b.conversation.state = ConversationState.BOT
            b.conversation.queued_at = None
            b.step.effects.queue = QueueAction.DEQUEUE
            b.desk("cancelled")
            self._say(b, "handoff_cancelled", ReplyKind.NOTICE)
        elif intents.asks_for_human(text) or b.inbound.payload == HANDOFF:
            await self._hand_off(b)
        else:
            b.desk("customer_message", text)

    async def _close_silently(self, b: _Builder) -> None:
        """The customer left (unfollowed): close without a word and leave the queue."""
        if b.conversation.state in (ConversationState.QUEUED, ConversationState.WITH_AGENT):
            b.step.effects.queue = QueueAction.DEQUEUE
            b.desk("closed", "customer left")
        b.conversation.state = ConversationState.CLOSED

    # -- survey --------------------------------------------------------------------------

    async def _while_surveyed(self, b: _Builder) -> None:
        inbound = b.inbound
        score: int | None = None
        if inbound.kind is InboundKind.CHOICE and (inbound.payload or "").startswith(RATING_PREFIX):
            score = intents.read_rating(
                (inbound.payload or "").removeprefix(RATING_PREFIX),
                self.config.survey_low,
                self.config.survey_high,
            )
        elif inbound.kind is InboundKind.TEXT:
            score = intents.read_rating(
                inbound.text, self.config.survey_low, self.config.survey_high
            )
        if score is None:
            # Not a rating: the customer carries on, and is not asked again.
            b.conversation.state = ConversationState.BOT
            await self._with_bot(b)
            return
        conversation = b.conversation
        b.step.effects.survey_answer = SurveyAnswer(
            conversation_id=conversation.id,
            customer_key=conversation.customer_key,
            channel=conversation.channel,
            score=score,
            resolved_by=conversation.agent or "bot",
            faq_ids=list(conversation.faq_answered),
        )
        self._say(b, "survey_thanks", ReplyKind.NOTICE)
        conversation.state = ConversationState.CLOSED

    # -- helpers -------------------------------------------------------------------------

    def _human_choice(self, b: _Builder) -> Choice:
        return Choice(label=self.texts.get("talk_to_human", b.language), payload=HANDOFF)

    def _say(
        self,
        b: _Builder,
        text_name: str,
        kind: ReplyKind,
        choices: list[Choice] | None = None,
        faq_ids: list[str] | None = None,
        **values: object,
    ) -> None:
        text = self.texts.get(text_name, b.language, **values)
        b.say(Reply(text=text, kind=kind, choices=choices or []), faq_ids)

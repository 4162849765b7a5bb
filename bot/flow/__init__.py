"""What the bot decides for one event, by conversation state.

`Flow.step` takes the customer's conversation and one event and returns a `Step`: the
changed conversation, the transcript lines to add and the effects to carry out. Nothing
here talks to a channel; the dispatcher saves the step and then carries its effects out.
"""

from __future__ import annotations

from bot import intents
from bot.clock import SYSTEM_CLOCK, Clock
from bot.conversation import (
    Conversation,
    ConversationState,
    QueueAction,
    Step,
    TimerKind,
    TranscriptEntry,
)
from bot.faq import FaqLibrary
from bot.flow.bot_turn import bot_turn
from bot.flow.builder import StepBuilder
from bot.flow.config import (
    FAQ_PREFIX,
    HANDOFF,
    HELPFUL_NO,
    HELPFUL_YES,
    NONE_OF_THESE,
    RATING_PREFIX,
    FlowConfig,
)
from bot.flow.context import FlowContext
from bot.flow.handoff_turn import queue_timeout, queued_turn
from bot.flow.link_turn import link_turn
from bot.flow.menu_turn import answer_while_with_person, is_menu_tap, menu_turn
from bot.flow.survey_turn import ask_survey, may_survey, survey_timeout, survey_turn
from bot.identity import Linking
from bot.model import Inbound, InboundKind
from bot.ports import HandoffQueue
from bot.texts import Texts, language_of

__all__ = [
    "FAQ_PREFIX",
    "HANDOFF",
    "HELPFUL_NO",
    "HELPFUL_YES",
    "NONE_OF_THESE",
    "RATING_PREFIX",
    "Flow",
    "FlowConfig",
]


class Flow:
    """Turns (conversation, event) into a `Step`."""

    def __init__(
        self,
        faq: FaqLibrary,
        texts: Texts,
        queue: HandoffQueue,
        config: FlowConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        linking: Linking | None = None,
    ):
        self.ctx = FlowContext(faq=faq, texts=texts, queue=queue, config=config, linking=linking)
        self.clock = clock

    @property
    def texts(self) -> Texts:
        """The bot's texts."""
        return self.ctx.texts

    async def step(self, current: Conversation | None, inbound: Inbound) -> Step:
        """Decide what happens for `inbound` given the customer's current conversation."""
        if inbound.kind is InboundKind.TIMER:
            return self._timer(current, inbound)
        now = self.clock.now()
        conversation = _continue_or_start(current, inbound, now)
        conversation.locale = turn_language(conversation, inbound)
        b = StepBuilder(conversation, inbound, conversation.locale, self.ctx.texts, now)
        if current is None or current.id != conversation.id:
            b.effects.opened_at = conversation.started_at
        if inbound.kind not in (InboundKind.FOLLOW, InboundKind.UNFOLLOW):
            conversation.customer_messages += 1
            b.step.transcript.append(
                TranscriptEntry(
                    sender="customer",
                    sender_name=inbound.display_name,
                    text=inbound.text or (inbound.payload or ""),
                    kind=inbound.kind.value,
                    time=now,
                    channel=inbound.channel,
                )
            )
        state = conversation.state
        with_person = state in (ConversationState.QUEUED, ConversationState.WITH_AGENT)
        if await link_turn(self.ctx, b):
            pass
        elif inbound.kind is InboundKind.UNFOLLOW:
            _customer_left(b)
        elif is_menu_tap(b):
            await menu_turn(self.ctx, b)
        elif with_person and answer_while_with_person(self.ctx, b):
            pass
        elif state is ConversationState.QUEUED:
            await queued_turn(self.ctx, b)
        elif state is ConversationState.WITH_AGENT:
            b.desk("customer_message", inbound.text)
        elif state is ConversationState.SURVEY and survey_turn(self.ctx, b):
            pass
        else:
            await bot_turn(self.ctx, b)
        conversation.updated_at = now
        return b.step

    def _timer(self, current: Conversation | None, inbound: Inbound) -> Step:
        """A timer fired: act only if the conversation is still the one that armed it."""
        if current is None:
            current = Conversation(channel=inbound.channel, user_id=inbound.user_id)
            current.state = ConversationState.CLOSED
        conversation = current.model_copy(deep=True)
        language = language_of(conversation.locale)
        b = StepBuilder(conversation, inbound, language, self.ctx.texts, self.clock.now())
        if inbound.meta.get("conversation_id") != conversation.id:
            return b.step  # a timer of an earlier conversation
        kind, state = inbound.payload, conversation.state
        config = self.ctx.config
        if kind == TimerKind.IDLE and state is ConversationState.BOT:
            armed_at = float(inbound.meta.get("due_at", "0")) - config.idle_close_seconds
            if conversation.updated_at > armed_at + 0.01:
                return b.step  # the customer wrote since; a later timer is armed
            if (conversation.faq_answered or conversation.agent_id) and may_survey(self.ctx, b):
                ask_survey(self.ctx, b)
            else:
                b.close()
        elif kind == TimerKind.SURVEY_TIMEOUT and state is ConversationState.SURVEY:
            survey_timeout(self.ctx, b)
        elif kind == TimerKind.QUEUE_TIMEOUT and state is ConversationState.QUEUED:
            queue_timeout(self.ctx, b)
        return b.step


def turn_language(conversation: Conversation, inbound: Inbound) -> str:
    """The language to answer in: what the customer types in, else what they last typed in.

    A tap carries no language of its own, and a channel's profile language (LINE's) says
    less than the words the customer chose: an English customer who taps "No" stays English.
    A new conversation starts from the channel's locale (see `_continue_or_start`).
    """
    typed = intents.typed_language(inbound)
    return typed or language_of(conversation.locale or inbound.locale)


def _continue_or_start(current: Conversation | None, inbound: Inbound, now: float) -> Conversation:
    """The customer's open conversation, or a new one (after `closed`, or the first time)."""
    if current is not None and current.state is not ConversationState.CLOSED:
        conversation = current.model_copy(deep=True)
        # Replies go where the customer last wrote (a linked customer may switch channels).
        conversation.channel, conversation.user_id = inbound.channel, inbound.user_id
    else:
        conversation = Conversation(
            channel=inbound.channel,
            user_id=inbound.user_id,
            started_at=now,
            locale=inbound.locale,
            last_surveyed_at=current.last_surveyed_at if current is not None else None,
        )
    conversation.key = inbound.conversation_key
    if inbound.channel not in conversation.channels:
        conversation.channels = [*conversation.channels, inbound.channel]
    if inbound.display_name:
        conversation.display_name = inbound.display_name
    return conversation


def _customer_left(b: StepBuilder) -> None:
    """The customer unfollowed or blocked us: close without a word and leave the queue."""
    if b.conversation.state in (ConversationState.QUEUED, ConversationState.WITH_AGENT):
        b.effects.queue = QueueAction.DEQUEUE
        b.desk("closed", "the customer left")
    if b.conversation.state is not ConversationState.CLOSED:
        b.close()

"""What an agent's action decides: claim, reply, release, close, take over, follow up.

Each action is decided like a customer's event, by a pure function of the conversation and
the request: a `Step` (the changed conversation, transcript lines, effects) or a `Refusal`
saying why not. The caller commits the step keyed by the request's event id and applies
its effects exactly as the dispatcher does for customers, so a retried or replayed action
has the same outcome. Every rule lives in one function here; the desks only ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import TypeAdapter, ValidationError

from bot.actor import Actor
from bot.conversation import (
    Conversation,
    ConversationState,
    QueueAction,
    Step,
    Takeover,
    TranscriptEntry,
)
from bot.flow.builder import StepBuilder
from bot.flow.context import FlowContext
from bot.flow.survey_turn import ask_survey, may_survey
from bot.model import ChannelName, Inbound, InboundKind, Reply, ReplyKind
from bot.records import AgentAnswered
from bot.texts import language_of

_CHANNEL_NAME: TypeAdapter[str] = TypeAdapter(ChannelName)


class AgentAction(StrEnum):
    """What an agent can do to a conversation."""

    CLAIM = "claim"
    REPLY = "reply"
    RELEASE = "release"
    CLOSE = "close"
    TAKEOVER = "takeover"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class AgentRequest:
    """One desk request: who does what, under an id that makes a retry the same request.

    `conversation_id` is the conversation the desk showed the agent; when given, an action
    on a conversation that has since ended (or been replaced) is refused.
    """

    action: AgentAction
    actor: Actor
    action_id: str
    conversation_id: str | None = None
    text: str = ""
    to: str | None = None  # a reply: the linked identity to send it to (default: last used)

    @property
    def event_id(self) -> str:
        """The key the step is committed under. It names the actor, so an id one agent
        used is never taken for another agent's retry."""
        return f"agent:{self.action.value}:{self.actor.id}:{self.action_id}"


@dataclass(frozen=True)
class Refusal:
    """The action is not allowed now: why, the conversation's state and who holds it."""

    reason: str
    state: ConversationState
    holder: Actor | None


# -- the rules -----------------------------------------------------------------------------


def held_by_other(conversation: Conversation, actor: Actor) -> bool:
    """Another agent holds the conversation: only they may speak, release or close it."""
    return conversation.state is ConversationState.WITH_AGENT and conversation.agent_id != actor.id


def holds(conversation: Conversation, actor: Actor) -> bool:
    """`actor` is the agent talking with the customer now."""
    return conversation.state is ConversationState.WITH_AGENT and conversation.agent_id == actor.id


def is_gone(conversation: Conversation, request: AgentRequest) -> bool:
    """The desk acted on a conversation that has ended or been replaced since."""
    return request.conversation_id is not None and request.conversation_id != conversation.id


def with_a_person(conversation: Conversation) -> bool:
    """Waiting for an agent or talking with one."""
    return conversation.state in (ConversationState.QUEUED, ConversationState.WITH_AGENT)


# -- the decisions -------------------------------------------------------------------------


def decide(
    ctx: FlowContext,
    conversation: Conversation,
    request: AgentRequest,
    now: float,
    *,
    transcript: Sequence[TranscriptEntry] = (),
) -> Step | Refusal:
    """The step `request` makes of `conversation`, or why it is refused.

    `transcript` is the conversation's transcript so far (a follow-up carries it over).
    """
    if request.action is AgentAction.FOLLOW_UP:
        return decide_follow_up(ctx, conversation, request, now, transcript)
    if is_gone(conversation, request):
        return Refusal("this conversation is over", ConversationState.CLOSED, None)
    deciders = {
        AgentAction.CLAIM: decide_claim,
        AgentAction.REPLY: decide_reply,
        AgentAction.RELEASE: decide_release,
        AgentAction.CLOSE: decide_close,
        AgentAction.TAKEOVER: decide_takeover,
    }
    return deciders[request.action](ctx, conversation, request, now)


def decide_claim(
    ctx: FlowContext, current: Conversation, request: AgentRequest, now: float
) -> Step | Refusal:
    """Take a waiting customer; of simultaneous claims the first committed wins."""
    if current.state is not ConversationState.QUEUED:
        holder = current.agent if current.state is ConversationState.WITH_AGENT else None
        reason = f"already taken by {holder.name}" if holder else f"not waiting ({current.state})"
        return Refusal(reason, current.state, holder)
    b = _builder(ctx, current, request, now)
    conversation = b.conversation
    conversation.state = ConversationState.WITH_AGENT
    conversation.assign(request.actor)
    conversation.claimed_at = now
    conversation.updated_at = now
    b.effects.queue = QueueAction.DEQUEUE
    if conversation.queued_at is not None:
        b.effects.wait_seconds = now - conversation.queued_at
    b.say("agent_joined", ReplyKind.NOTICE, agent=request.actor.name)
    b.desk("claimed", request.actor.name, agent_id=request.actor.id)
    return b.step


def decide_reply(
    ctx: FlowContext, current: Conversation, request: AgentRequest, now: float
) -> Step | Refusal:
    """The holder's words to the customer, on the customer's own channel."""
    if not holds(current, request.actor):
        return Refusal("not your conversation", current.state, current.agent)
    to = _recipient(request.to)
    if request.to is not None and to is None:
        return Refusal(f"no such channel to reply on: {request.to}", current.state, current.agent)
    b = _builder(ctx, current, request, now)
    name = request.actor.name
    reply = Reply(text=request.text, kind=ReplyKind.AGENT, sender=name)
    b.reply(reply, sender="agent", sender_name=name, to=to)
    conversation = b.conversation
    if conversation.first_response_at is None:
        conversation.first_response_at = now
        if conversation.unanswered_questions:
            # The first reply to questions the bot could not answer: an example to learn from.
            b.effects.agent_answered = AgentAnswered(
                questions=list(conversation.unanswered_questions),
                reply=request.text,
                agent=name,
                agent_id=request.actor.id,
                customer_key=conversation.customer_key,
                channel=conversation.channel,
                conversation_id=conversation.id,
                time=now,
            )
    conversation.updated_at = now
    return b.step


def _recipient(identity: str | None) -> tuple[str, str] | None:
    """The channel and user of a linked identity (`line:U…`) an agent chose to reply to."""
    channel, _, user_id = (identity or "").partition(":")
    try:
        _CHANNEL_NAME.validate_python(channel)
    except ValidationError:
        return None
    return (channel, user_id) if user_id else None


def decide_release(
    ctx: FlowContext, current: Conversation, request: AgentRequest, now: float
) -> Step | Refusal:
    """Put the customer back in the queue at the place they had."""
    if not holds(current, request.actor):
        return Refusal("not your conversation", current.state, current.agent)
    b = _builder(ctx, current, request, now)
    conversation = b.conversation
    conversation.state = ConversationState.QUEUED
    conversation.assign(None)
    conversation.updated_at = now
    b.effects.queue = QueueAction.ENQUEUE
    b.effects.queued_at = conversation.queued_at or now
    b.effects.queue_priority = conversation.priority
    b.say("agent_released", ReplyKind.NOTICE)
    b.desk("released", request.actor.name, agent_id=request.actor.id)
    return b.step


def decide_close(
    ctx: FlowContext, current: Conversation, request: AgentRequest, now: float
) -> Step | Refusal:
    """End a waiting or held conversation: the survey if it may be asked, else closed."""
    if not with_a_person(current):
        return Refusal("not open", current.state, current.agent)
    if held_by_other(current, request.actor):
        return Refusal("not your conversation", current.state, current.agent)
    b = _builder(ctx, current, request, now)
    conversation = b.conversation
    if conversation.agent_id is None:
        conversation.assign(request.actor)  # closing a waiting customer: the closer handled it
    conversation.updated_at = now
    b.effects.queue = QueueAction.DEQUEUE
    # The same rule the bot's own end of a conversation follows (surveys off, cooldown).
    if may_survey(ctx, b):
        ask_survey(ctx, b)
    else:
        b.close()
    b.desk("agent_closed", request.actor.name, agent_id=request.actor.id)
    return b.step


def decide_takeover(
    ctx: FlowContext, current: Conversation, request: AgentRequest, now: float
) -> Step | Refusal:
    """Take a conversation another agent holds: explicit, and written down.

    Any agent may do it (the holder may have gone home); the transcript, the desks and
    the conversation's record all say who took it from whom.
    """
    if current.state is not ConversationState.WITH_AGENT:
        return Refusal(f"nobody holds it ({current.state})", current.state, None)
    if not held_by_other(current, request.actor):
        return Refusal("it is yours already", current.state, current.agent)
    b = _builder(ctx, current, request, now)
    conversation = b.conversation
    previous = current.agent
    assert previous is not None  # held by another
    actor = request.actor
    conversation.takeovers.append(
        Takeover(
            agent_id=actor.id,
            agent_name=actor.name,
            from_agent_id=previous.id,
            from_agent_name=previous.name,
            time=now,
        )
    )
    conversation.assign(actor)
    conversation.updated_at = now
    what = f"{actor.name} ({actor.id}) took over from {previous.name} ({previous.id})"
    b.note(what)
    b.desk("taken_over", what, agent_id=request.actor.id)
    b.say("agent_joined", ReplyKind.NOTICE, agent=actor.name)
    return b.step


def decide_follow_up(
    ctx: FlowContext,
    current: Conversation,
    request: AgentRequest,
    now: float,
    transcript: Sequence[TranscriptEntry] = (),
) -> Step | Refusal:
    """Reopen a customer's finished conversation with the agent (after a low score).

    The new conversation starts with the agent, keeps the transcript for context, and is
    announced to the desks like an escalation so the agent can reply from there.
    """
    if with_a_person(current):
        holder = current.agent
        who = holder.name if holder is not None else "the queue"
        return Refusal(f"already with a person ({who})", current.state, holder)
    conversation = Conversation(
        channel=current.channel,
        user_id=current.user_id,
        state=ConversationState.WITH_AGENT,
        locale=current.locale,
        display_name=current.display_name,
        started_at=now,
        updated_at=now,
        queued_at=now,
        claimed_at=now,
        last_surveyed_at=current.last_surveyed_at,
        version=current.version,
    )
    conversation.assign(request.actor)
    b = _builder(ctx, conversation, request, now, copy=False)
    b.step.transcript.extend(transcript)
    if current.state is not ConversationState.CLOSED:
        # Still answering the survey or talking to the bot: that one ends here.
        b.effects.conversation_record = current.to_record(now)
    b.say("follow_up_notice", ReplyKind.NOTICE, agent=request.actor.name)
    b.desk("escalated", "follow-up after a low survey score")
    return b.step


def _builder(
    ctx: FlowContext,
    conversation: Conversation,
    request: AgentRequest,
    now: float,
    *,
    copy: bool = True,
) -> StepBuilder:
    """A step builder for the request, on a copy of the conversation (it stays pure)."""
    changed = conversation.model_copy(deep=True) if copy else conversation
    event = Inbound(
        event_id=request.event_id,
        channel=changed.channel,
        user_id=changed.user_id,
        kind=InboundKind.AGENT,
        text=request.text,
        payload=request.action.value,
        received_at=now,
    )
    return StepBuilder(changed, event, language_of(changed.locale), ctx.texts, now)

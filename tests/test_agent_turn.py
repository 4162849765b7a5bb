"""The decisions of agents' actions, as pure functions: the rules, one by one."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from bot.actor import Actor
from bot.composition.runtime import Runtime
from bot.conversation import Conversation, ConversationState, QueueAction, Step, TimerKind
from bot.flow.agent_turn import AgentAction, AgentRequest, Refusal, decide
from bot.flow.context import FlowContext
from bot.model import ReplyKind
from bot.settings import Settings

NOW = 1_800_000_000.0
SATO_CONSOLE = Actor.console("Sato")
SATO_SLACK = Actor.slack("U0SATO", "Sato")


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[FlowContext]:
    rt = Runtime(settings)
    yield rt.flow.ctx
    await rt.redis.aclose()


def held_by(actor: Actor) -> Conversation:
    conversation = Conversation(
        channel="web",
        user_id="w_1",
        state=ConversationState.WITH_AGENT,
        queued_at=NOW - 120,
        claimed_at=NOW - 60,
        version=7,
    )
    conversation.assign(actor)
    return conversation


def request(action: AgentAction, actor: Actor, text: str = "") -> AgentRequest:
    return AgentRequest(action, actor, "a-1", text=text)


def test_the_same_request_id_from_two_agents_is_two_requests() -> None:
    mine = request(AgentAction.REPLY, SATO_CONSOLE)
    theirs = request(AgentAction.REPLY, SATO_SLACK)
    assert mine.event_id != theirs.event_id


async def test_a_namesake_is_refused_and_the_conversation_is_left_as_it_was(
    ctx: FlowContext,
) -> None:
    conversation = held_by(SATO_CONSOLE)
    before = conversation.model_dump()
    for action in (AgentAction.REPLY, AgentAction.RELEASE, AgentAction.CLOSE, AgentAction.CLAIM):
        refused = decide(ctx, conversation, request(action, SATO_SLACK, "hi"), NOW)
        assert isinstance(refused, Refusal), action
        assert refused.holder == SATO_CONSOLE
    assert conversation.model_dump() == before, "deciding never changes its input"


async def test_the_holder_replies_and_the_first_reply_is_timed(ctx: FlowContext) -> None:
    step = decide(ctx, held_by(SATO_CONSOLE), request(AgentAction.REPLY, SATO_CONSOLE, "hi"), NOW)
    assert isinstance(step, Step)
    [outgoing] = step.effects.outgoing
    assert (outgoing.reply.kind, outgoing.reply.sender, outgoing.reply.text) == (
        ReplyKind.AGENT,
        "Sato",
        "hi",
    )
    assert step.conversation.first_response_at == NOW
    assert [(e.sender, e.sender_name) for e in step.transcript] == [("agent", "Sato")]


async def test_close_asks_the_survey_only_when_surveys_are_on(ctx: FlowContext) -> None:
    close = request(AgentAction.CLOSE, SATO_CONSOLE)
    asked = decide(ctx, held_by(SATO_CONSOLE), close, NOW)
    assert isinstance(asked, Step)
    assert asked.conversation.state is ConversationState.SURVEY
    assert [t.kind for t in asked.effects.timers] == [TimerKind.SURVEY_TIMEOUT]
    assert asked.effects.queue is QueueAction.DEQUEUE

    off = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, survey_questions=()))
    closed = decide(off, held_by(SATO_CONSOLE), close, NOW)
    assert isinstance(closed, Step)
    assert closed.conversation.state is ConversationState.CLOSED
    assert closed.effects.outgoing == [] and closed.effects.timers == []
    record = closed.effects.conversation_record
    assert record is not None and (record.agent_id, record.survey) == ("console:Sato", "not_asked")


async def test_takeover_is_only_of_someone_elses_conversation_and_is_written_down(
    ctx: FlowContext,
) -> None:
    own = decide(ctx, held_by(SATO_SLACK), request(AgentAction.TAKEOVER, SATO_SLACK), NOW)
    assert isinstance(own, Refusal)
    step = decide(ctx, held_by(SATO_SLACK), request(AgentAction.TAKEOVER, SATO_CONSOLE), NOW)
    assert isinstance(step, Step)
    assert step.conversation.agent == SATO_CONSOLE
    [takeover] = step.conversation.takeovers
    assert (takeover.from_agent_id, takeover.agent_id) == ("slack:U0SATO", "console:Sato")
    assert [e.sender for e in step.transcript] == ["system", "bot"]
    assert [e.kind for e in step.effects.desk_events] == ["taken_over"]


async def test_an_action_on_a_conversation_that_moved_on_is_refused(ctx: FlowContext) -> None:
    stale = AgentRequest(AgentAction.CLOSE, SATO_CONSOLE, "a-2", conversation_id="earlier")
    refused = decide(ctx, held_by(SATO_CONSOLE), stale, NOW)
    assert isinstance(refused, Refusal) and refused.reason == "this conversation is over"

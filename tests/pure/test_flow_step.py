"""`Flow.step` as a pure function of (conversation, event): no server, no Redis."""

from __future__ import annotations

import itertools

from bot.clock import FixedClock
from bot.conversation import Conversation, ConversationState, QueueAction
from bot.flow import HELPFUL_YES, RATING_PREFIX, Flow
from bot.model import Inbound, InboundKind, ReplyKind

_ids = itertools.count()


def said(text: str, *, user: str = "U1", kind: InboundKind = InboundKind.TEXT) -> Inbound:
    return Inbound(event_id=f"e{next(_ids)}", channel="web", user_id=user, kind=kind, text=text)


def tapped(payload: str, *, user: str = "U1") -> Inbound:
    return Inbound(
        event_id=f"e{next(_ids)}",
        channel="web",
        user_id=user,
        kind=InboundKind.CHOICE,
        payload=payload,
    )


async def test_a_question_the_faq_knows_is_answered_and_asked_if_it_solved_it(flow: Flow) -> None:
    step = await flow.step(None, said("送料はいくらですか？"))
    replies = [o.reply for o in step.effects.outgoing]
    assert any(r.kind is ReplyKind.ANSWER and "550" in r.text for r in replies)
    assert step.conversation.state is ConversationState.BOT
    assert step.conversation.faq_answered == ["shipping-fee"]
    assert any(c.payload == HELPFUL_YES for r in replies for c in r.choices)
    assert step.effects.queue is None, "nobody was queued"
    assert [t.sender for t in step.transcript][:1] == ["customer"]


async def test_the_reply_ids_are_the_same_when_the_event_is_decided_again(flow: Flow) -> None:
    event = said("送料はいくらですか？")
    first, again = await flow.step(None, event), await flow.step(None, event)
    assert [o.message_id for o in first.effects.outgoing] == [
        o.message_id for o in again.effects.outgoing
    ], "a replay sends the same messages, so delivery can drop the duplicates"


async def test_solved_leads_to_the_survey_and_a_rating_closes_it(
    flow: Flow, clock: FixedClock
) -> None:
    answered = (await flow.step(None, said("送料はいくらですか？"))).conversation
    clock.advance(30)
    survey = await flow.step(answered, tapped(HELPFUL_YES))
    assert survey.conversation.state is ConversationState.SURVEY
    [question] = [o.reply for o in survey.effects.outgoing if o.reply.kind is ReplyKind.SURVEY]
    assert [c.payload for c in question.choices] == [f"{RATING_PREFIX}{n}" for n in range(1, 8)]

    clock.advance(30)
    rated = await flow.step(survey.conversation, tapped(f"{RATING_PREFIX}6"))
    assert rated.conversation.state is ConversationState.CLOSED
    [response] = rated.effects.survey_responses
    assert (response.score, response.channel, response.customer_key) == (6, "web", "web:U1")
    assert rated.effects.conversation_record is not None


async def test_a_customer_who_blocks_us_is_closed_without_a_word(flow: Flow) -> None:
    started = (await flow.step(None, said("こんにちは"))).conversation
    gone = await flow.step(started, said("", kind=InboundKind.UNFOLLOW))
    assert gone.conversation.state is ConversationState.CLOSED
    assert gone.effects.outgoing == [], "nothing is sent to someone who blocked us"
    assert gone.effects.queue in (None, QueueAction.DEQUEUE)


async def test_a_conversation_on_any_registered_channel_is_decided_the_same(flow: Flow) -> None:
    """The flow never names a channel: a new one's customers get the same answers."""
    event = said("送料はいくらですか？").model_copy(update={"channel": "messenger"})
    step = await flow.step(None, event)
    assert step.conversation.customer_key == "messenger:U1"
    assert all(o.channel == "messenger" for o in step.effects.outgoing)
    assert any("550" in o.reply.text for o in step.effects.outgoing)


def test_a_conversation_keeps_its_channel_name_as_given() -> None:
    conversation = Conversation(channel="line", user_id="U9")
    assert conversation.customer_key == "line:U9"

"""The conversation state machine, driven through the real dispatcher and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from bot.actor import Actor
from bot.composition.runtime import Runtime
from bot.conversation import ConversationState
from bot.model import Inbound
from bot.records import ConversationRecord, SurveyResponse, UnansweredMessage
from bot.settings import Settings
from bot.timers import TimerSweeper
from tests.direct_customer import DirectCustomer
from tests.eventually import settled


@pytest.fixture
async def customer(runtime: Runtime) -> DirectCustomer:
    return DirectCustomer(runtime)


async def records(runtime: Runtime, kind: type) -> list:  # type: ignore[type-arg]
    return [r async for r in runtime.records.read(kind)]


async def fire_timers(runtime: Runtime, after_seconds: float) -> None:
    """Run the timer sweep as if `after_seconds` had passed."""
    await TimerSweeper(runtime.timers, runtime.inbox).sweep(now=time.time() + after_seconds)


async def test_an_answer_asks_whether_it_solved_it(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    answer, question = await customer.send("送料はいくらですか？")
    assert answer.kind == "answer" and "550" in answer.text
    assert [c.payload for c in question.choices] == ["helpful:yes", "helpful:no"]
    assert await customer.state() is ConversationState.BOT
    ttl = await runtime.redis.ttl(runtime.keys.conversation(customer.key))
    assert 0 < ttl <= runtime.settings.conversation_ttl_seconds


async def test_solved_leads_to_the_ces_question_and_a_rating_closes(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("送料はいくらですか？")
    [survey] = await customer.tap("helpful:yes")
    assert survey.kind == "survey"
    assert [c.payload for c in survey.choices] == [f"rating:{n}" for n in range(1, 8)]
    assert survey.choices[0].label == "1 まったくそう思わない"
    assert survey.choices[-1].label == "7 とてもそう思う"
    [thanks] = await customer.send("six")
    assert thanks.kind == "notice"
    assert await customer.state() is ConversationState.CLOSED
    [response] = await records(runtime, SurveyResponse)
    assert (response.score, response.resolved_by, response.faq_ids) == (
        6,
        "bot",
        ["shipping-fee"],
    )
    [conversation] = await records(runtime, ConversationRecord)
    assert (conversation.resolution, conversation.survey) == ("bot", "answered")


async def test_not_solved_twice_hands_off(runtime: Runtime, customer: DirectCustomer) -> None:
    await customer.send("送料はいくらですか？")
    [fallback] = await customer.tap("helpful:no")
    assert fallback.kind == "fallback"
    await customer.send("返品はできますか？")
    await customer.tap("helpful:no")
    assert await customer.state() is ConversationState.QUEUED


async def test_full_journey_bot_queue_agent_survey_closed(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("送料はいくらですか？")
    [notice] = await customer.send("人と話したい")
    assert "1番目" in notice.text
    assert await customer.state() is ConversationState.QUEUED
    assert await runtime.queue.position(customer.key) == 1

    assert await customer.send("注文番号は 1234 です") == [], "the bot stays quiet while queued"
    transcript = await runtime.store.transcript(customer.key)
    assert transcript[-1].text == "注文番号は 1234 です"

    claimed = await runtime.agents.claim(customer.key, Actor.console("Sato"))
    assert claimed.ok
    assert await customer.state() is ConversationState.WITH_AGENT
    assert await runtime.queue.position(customer.key) is None
    [joined] = await customer.replies()
    assert "Sato" in joined.text

    await runtime.agents.reply(customer.key, Actor.console("Sato"), "確認します。", action_id="m1")
    [from_agent] = await customer.replies()
    assert (from_agent.sender, from_agent.sender_name) == ("agent", "Sato")
    assert await customer.send("ありがとう") == [], "an agent's customer is not answered by the bot"

    closed = await runtime.agents.close(customer.key, Actor.console("Sato"))
    assert closed.state is ConversationState.SURVEY
    [question] = await customer.replies()
    assert question.kind == "survey"

    [thanks] = await customer.send("５")
    assert thanks.kind == "notice"
    assert await customer.state() is ConversationState.CLOSED
    [answer] = await records(runtime, SurveyResponse)
    assert (answer.score, answer.resolved_by) == (5, "Sato")
    [record] = await records(runtime, ConversationRecord)
    assert (record.resolution, record.agent, record.handed_off) == ("agent", "Sato", True)
    assert record.wait_seconds is not None and record.first_response_seconds is not None

    old = await runtime.store.load(customer.key)
    await customer.send("返品したい")
    new = await runtime.store.load(customer.key)
    assert old is not None and new is not None
    assert new.id != old.id, "a message after closing opens a new conversation"
    assert new.state is ConversationState.BOT
    assert (await runtime.store.history(customer.key))[0]["conversation_id"] == old.id


async def test_a_low_score_asks_for_a_comment_and_records_it(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("送料はいくらですか？")
    await customer.tap("helpful:yes")
    [ask_comment] = await customer.tap("rating:2")
    assert ask_comment.kind == "survey"
    assert [c.payload for c in ask_comment.choices] == ["survey:skip"]
    [thanks] = await customer.send("送料が高すぎると思います")
    assert thanks.kind == "notice"
    [response] = await records(runtime, SurveyResponse)
    assert (response.score, response.comment) == (2, "送料が高すぎると思います")


async def test_cancel_returns_a_queued_customer_to_the_bot(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("オペレーターと話したい")
    [reply] = await customer.send("キャンセル")
    assert reply.kind == "notice"
    assert await customer.state() is ConversationState.BOT
    assert await runtime.queue.position(customer.key) is None


async def test_two_unanswerable_messages_hand_off_and_are_recorded(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    [first] = await customer.send("量子コンピュータの原理を説明して")
    assert first.kind == "fallback"
    assert await customer.state() is ConversationState.BOT
    await customer.send("xyzzy plugh frobnicate")
    assert await customer.state() is ConversationState.QUEUED
    unanswered = await records(runtime, UnansweredMessage)
    assert [u.text for u in unanswered] == [
        "量子コンピュータの原理を説明して",
        "xyzzy plugh frobnicate",
    ]


async def test_not_a_rating_goes_on_with_the_bot_and_is_not_asked_again(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("送料はいくらですか？")
    [question] = await customer.send("ありがとう")
    assert question.kind == "survey"
    answer, _ = await customer.send("返品はできますか？")
    assert answer.kind in ("answer", "suggest")
    [goodbye] = await customer.send("ありがとう")
    assert goodbye.kind == "notice"
    assert await customer.state() is ConversationState.CLOSED
    [record] = await records(runtime, ConversationRecord)
    assert record.survey == "unanswered"


async def test_survey_is_not_asked_again_within_the_cooldown(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("送料はいくらですか？")
    await customer.tap("helpful:yes")
    await customer.tap("rating:7")
    await customer.send("返品はできますか？")
    [goodbye] = await customer.send("ありがとう")
    assert goodbye.kind == "notice", "surveyed an hour ago: just say goodbye"


async def test_idle_conversation_is_closed_with_a_survey_then_times_out(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("送料はいくらですか？")
    await fire_timers(runtime, 60)
    await settled(runtime.inbox)
    assert await customer.replies() == [], "not idle yet"
    await fire_timers(runtime, runtime.settings.idle_close_minutes * 60 + 1)
    await settled(runtime.inbox)
    [survey] = await customer.replies()
    assert survey.kind == "survey"
    assert await customer.state() is ConversationState.SURVEY

    await fire_timers(runtime, runtime.settings.survey_timeout_hours * 3600 + 5)
    await settled(runtime.inbox)
    assert await customer.state() is ConversationState.CLOSED
    [record] = await records(runtime, ConversationRecord)
    assert record.survey == "unanswered"


async def test_nobody_claims_in_time_the_customer_is_told(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("人と話したい")
    await fire_timers(runtime, runtime.settings.queue_timeout_minutes * 60 + 1)
    await settled(runtime.inbox)
    [notice] = await customer.replies()
    assert "メッセージ" in notice.text
    assert await customer.state() is ConversationState.QUEUED, "still waiting for a person"


async def test_outside_business_hours_the_customer_hears_when(
    make_settings: Callable[..., Settings],
) -> None:
    closed_every_day = {day: None for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    closed_every_day["mon"] = "00:00-00:01"
    rt = Runtime(make_settings(business_hours=closed_every_day))
    try:
        customer = DirectCustomer(rt)
        [notice] = await customer.send("人と話したい")
        assert "営業時間外" in notice.text
        assert "月" in notice.text, "names the next opening (a Monday)"
        assert await customer.state() is ConversationState.QUEUED, "kept for then"
    finally:
        await rt.redis.aclose()


async def test_a_second_claim_loses_and_names_the_winner(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    await customer.send("担当者をお願いします")
    assert (await runtime.agents.claim(customer.key, Actor.console("Sato"))).ok
    lost = await runtime.agents.claim(customer.key, Actor.console("Suzuki"))
    assert not lost.ok
    assert lost.reason == "already taken by Sato"


async def test_release_puts_the_customer_back_at_their_place(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    later = DirectCustomer(runtime)
    await customer.send("人と話したい")
    await later.send("人と話したい")
    await runtime.agents.claim(customer.key, Actor.console("Sato"))
    assert await runtime.queue.position(later.key) == 1
    await runtime.agents.release(customer.key, Actor.console("Sato"))
    assert await customer.state() is ConversationState.QUEUED
    assert await runtime.queue.position(customer.key) == 1
    assert await runtime.queue.position(later.key) == 2


async def test_a_duplicate_event_gets_no_second_reply(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    inbound = Inbound(
        event_id="same-event", channel="web", user_id=customer.user_id, text="送料は？"
    )
    await runtime.dispatcher.handle(inbound)
    first = await customer.replies()
    await runtime.dispatcher.handle(inbound)
    await runtime.dispatcher.handle(inbound.model_copy(update={"text": "返品"}))
    assert first and await customer.replies() == []


async def test_csat_and_nps_can_follow_the_ces(make_settings: Callable[..., Settings]) -> None:
    rt = Runtime(make_settings(survey_questions=["ces", "csat", "nps"]))
    try:
        customer = DirectCustomer(rt)
        await customer.send("送料はいくらですか？")
        [ces] = await customer.tap("helpful:yes")
        assert ces.kind == "survey"
        [csat] = await customer.tap("rating:6")
        assert [c.payload for c in csat.choices] == [f"rating:{n}" for n in range(1, 6)]
        [nps] = await customer.tap("rating:4")
        assert [c.payload for c in nps.choices] == [f"rating:{n}" for n in range(0, 11)]
        [thanks] = await customer.send("10")
        assert thanks.kind == "notice"
        answers = [(r.question, r.score) async for r in rt.records.read(SurveyResponse)]
        assert answers == [("ces", 6), ("csat", 4), ("nps", 10)]
    finally:
        await rt.redis.aclose()


async def test_vips_and_urgent_topics_are_served_first(
    make_settings: Callable[..., Settings],
) -> None:
    vip_id = f"w_vip{uuid.uuid4().hex[:8]}"
    rt = Runtime(make_settings(vip_customers=[f"web:{vip_id}"], priority_words=["解約"]))
    try:
        early, urgent = DirectCustomer(rt), DirectCustomer(rt)
        vip = DirectCustomer(rt)
        vip.user_id, vip.key = vip_id, f"web:{vip_id}"
        await early.send("人と話したい")
        [notice] = await urgent.send("解約したいので人と話したい")
        assert "1番目" in notice.text, "an urgent topic goes ahead of ordinary waits"
        [notice] = await vip.send("担当者をお願いします")
        assert "2番目" in notice.text, "a VIP goes ahead of ordinary waits, behind urgent"
        assert await rt.queue.waiting() == [urgent.key, vip.key, early.key]
    finally:
        await rt.redis.aclose()


async def test_an_event_put_before_its_customer_linked_joins_the_linked_conversation(
    runtime: Runtime, customer: DirectCustomer
) -> None:
    # The LINE identity has the live conversation; the web one links to it after its event
    # was put (so the event names the web customer itself): the dispatcher resolves again.
    line_user = f"U{uuid.uuid4().hex}"
    await runtime.dispatcher.handle(
        Inbound(event_id=uuid.uuid4().hex, channel="line", user_id=line_user, text="送料は？")
    )
    profile = await runtime.linking.identities.link(
        customer.key, f"line:{line_user}", runtime.store.load
    )
    assert profile == f"line:{line_user}"
    await customer.send("返品したい")
    linked = await runtime.store.load(profile)
    assert linked is not None and linked.customer_messages == 2
    assert await runtime.store.load(customer.key) is None

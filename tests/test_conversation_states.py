"""The conversation state machine, driven through the real dispatcher and Redis."""

from __future__ import annotations

import uuid

import pytest

from bot.conversation import ConversationState
from bot.model import Channel, Inbound, InboundKind
from bot.runtime import Runtime
from channels.web.outbox import WebMessage


class Customer:
    """A web customer whose events go straight to the dispatcher (no HTTP, no inbox)."""

    def __init__(self, runtime: Runtime):
        self.rt = runtime
        self.user_id = f"w_{uuid.uuid4().hex[:12]}"
        self.key = f"web:{self.user_id}"
        self._read: str | None = None

    async def send(
        self, text: str = "", kind: InboundKind = InboundKind.TEXT, payload: str | None = None
    ) -> list[WebMessage]:
        inbound = Inbound(
            event_id=uuid.uuid4().hex,
            channel=Channel.WEB,
            user_id=self.user_id,
            kind=kind,
            text=text,
            payload=payload,
        )
        await self.rt.dispatcher.handle(inbound)
        return await self.replies()

    async def replies(self) -> list[WebMessage]:
        messages = await self.rt.web.outbox.read(self.key, self._read)
        if messages:
            self._read = messages[-1].cursor
        return messages

    async def state(self) -> ConversationState:
        conversation = await self.rt.store.load(self.key)
        assert conversation is not None
        return conversation.state


@pytest.fixture
async def customer(runtime: Runtime) -> Customer:
    return Customer(runtime)


async def test_answer_keeps_the_bot_state_and_is_stored_with_a_ttl(
    runtime: Runtime, customer: Customer
) -> None:
    [reply] = await customer.send("送料はいくらですか？")
    assert reply.kind == "answer"
    assert await customer.state() is ConversationState.BOT
    ttl = await runtime.redis.ttl(runtime.keys.conversation(customer.key))
    assert 0 < ttl <= runtime.settings.conversation_ttl_seconds


async def test_full_journey_bot_queue_agent_survey_closed(
    runtime: Runtime, customer: Customer
) -> None:
    await customer.send("送料はいくらですか？")
    [notice] = await customer.send("人と話したい")
    assert "1番目" in notice.text
    assert await customer.state() is ConversationState.QUEUED
    assert await runtime.queue.position(customer.key) == 1

    assert await customer.send("注文番号は 1234 です") == [], "the bot stays quiet while queued"
    transcript = await runtime.store.transcript(customer.key)
    assert transcript[-1].text == "注文番号は 1234 です"

    claimed = await runtime.agents.claim(customer.key, "Sato")
    assert claimed.ok
    assert await customer.state() is ConversationState.WITH_AGENT
    assert await runtime.queue.position(customer.key) is None
    [joined] = await customer.replies()
    assert "Sato" in joined.text

    await runtime.agents.reply(customer.key, "Sato", "確認します。", message_id="m1")
    [from_agent] = await customer.replies()
    assert (from_agent.sender, from_agent.sender_name) == ("agent", "Sato")
    assert await customer.send("ありがとう") == [], "an agent's customer is not answered by the bot"

    closed = await runtime.agents.close(customer.key, "Sato")
    assert closed.state is ConversationState.SURVEY
    [question] = await customer.replies()
    assert question.kind == "survey"
    assert [c.payload for c in question.choices] == [f"rating:{n}" for n in range(1, 8)]

    [thanks] = await customer.send("５")
    assert thanks.kind == "notice"
    assert await customer.state() is ConversationState.CLOSED
    [answer] = await runtime.surveys.answers()
    assert (answer.score, answer.resolved_by) == (5, "Sato")

    old = await runtime.store.load(customer.key)
    await customer.send("返品したい")
    new = await runtime.store.load(customer.key)
    assert old is not None and new is not None
    assert new.id != old.id, "a message after closing opens a new conversation"
    assert new.state is ConversationState.BOT
    assert (await runtime.store.history(customer.key))[0]["conversation_id"] == old.id


async def test_cancel_returns_a_queued_customer_to_the_bot(
    runtime: Runtime, customer: Customer
) -> None:
    await customer.send("オペレーターと話したい")
    [reply] = await customer.send("キャンセル")
    assert reply.kind == "notice"
    assert await customer.state() is ConversationState.BOT
    assert await runtime.queue.position(customer.key) is None


async def test_two_unanswerable_messages_hand_off(runtime: Runtime, customer: Customer) -> None:
    [first] = await customer.send("量子コンピュータの原理を説明して")
    assert first.kind == "fallback"
    assert await customer.state() is ConversationState.BOT
    await customer.send("xyzzy plugh frobnicate")
    assert await customer.state() is ConversationState.QUEUED


async def test_thanks_after_an_answer_asks_the_survey_once(
    runtime: Runtime, customer: Customer
) -> None:
    await customer.send("送料はいくらですか？")
    [question] = await customer.send("ありがとう")
    assert question.kind == "survey"
    assert await customer.state() is ConversationState.SURVEY
    # Not a rating: the conversation goes on, and the survey is not asked again.
    [answer] = await customer.send("返品はできますか？")
    assert answer.kind in ("answer", "suggest")
    [goodbye] = await customer.send("ありがとう")
    assert goodbye.kind == "notice"
    assert await customer.state() is ConversationState.CLOSED


async def test_a_second_claim_loses_and_names_the_winner(
    runtime: Runtime, customer: Customer
) -> None:
    await customer.send("担当者をお願いします")
    assert (await runtime.agents.claim(customer.key, "Sato")).ok
    lost = await runtime.agents.claim(customer.key, "Suzuki")
    assert not lost.ok
    assert lost.reason == "already taken by Sato"


async def test_release_puts_the_customer_back_at_their_place(
    runtime: Runtime, customer: Customer
) -> None:
    later = Customer(runtime)
    await customer.send("人と話したい")
    await later.send("人と話したい")
    await runtime.agents.claim(customer.key, "Sato")
    assert await runtime.queue.position(later.key) == 1
    await runtime.agents.release(customer.key, "Sato")
    assert await customer.state() is ConversationState.QUEUED
    assert await runtime.queue.position(customer.key) == 1
    assert await runtime.queue.position(later.key) == 2


async def test_a_duplicate_event_gets_no_second_reply(runtime: Runtime, customer: Customer) -> None:
    inbound = Inbound(
        event_id="same-event", channel=Channel.WEB, user_id=customer.user_id, text="送料は？"
    )
    await runtime.dispatcher.handle(inbound)
    await runtime.dispatcher.handle(inbound)
    await runtime.dispatcher.handle(inbound.model_copy(update={"text": "返品"}))
    replies = await customer.replies()
    assert len(replies) == 1

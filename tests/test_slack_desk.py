"""The Slack desk end to end: a web customer escalates, agents work the case in Slack.

Real Redis, the real app over HTTP, the real slack_sdk client against the fake Slack API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.conversation import ConversationState, DeskEvent
from bot.settings import Settings
from channels.slack.blocks import CLOSE, FOLLOW_UP
from tests.fakes.slack_platform import (
    DESK,
    ApiCall,
    FakeSlack,
    SlackTestApp,
    escalate,
    escalated_web_customer,
    serve_with_slack,
    started_slack,
)
from tests.webclient import WebCustomer

AGENTS = {f"U0AGENT{n}": f"Agent{n}" for n in range(8)}
SATO, SUZUKI = "U0SATO", "U0SUZUKI"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with started_slack(
        (SATO, "Sato", "Sato Hanako"), (SUZUKI, "Suzuki"), *AGENTS.items()
    ) as slack:
        yield slack


@pytest.fixture
async def served(make_settings: Callable[..., Settings], fake: FakeSlack) -> AsyncIterator[Any]:
    async with serve_with_slack(make_settings(), fake, DESK) as running:
        yield running


@pytest.fixture
async def http(served: SlackTestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        yield client


def text_of(call: ApiCall) -> str:
    """Everything a Slack message shows, as one string."""
    return json.dumps(call.args.get("blocks") or call.args.get("text"), ensure_ascii=False)


def button_ids(blocks: list[dict[str, Any]] | None) -> list[str]:
    return [
        element["action_id"]
        for block in blocks or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def claimed_by(fake: FakeSlack, escalation: ApiCall, user: str) -> None:
    response = await fake.click(user, escalation, "tsunagu_claim")
    assert response.status_code == 200
    ts = escalation.result["ts"]
    await fake.wait_for(
        lambda: "tsunagu_close" in button_ids(fake.current_blocks(DESK, ts)), what="claim"
    )


async def test_escalation_is_posted_with_transcript_faq_and_earlier_conversations(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    # An earlier conversation, closed: it shows up as history.
    await customer.say("送料はいくらですか？")
    await customer.next_from("bot")
    key = f"web:{customer.user_id}"
    first = await served.runtime.store.load(key)
    assert first is not None
    first.state = ConversationState.CLOSED
    assert await served.runtime.store.save(first, first.version)

    await customer.say("返品の送料について教えて")
    await customer.next_from("bot")
    escalation = await escalate(customer, fake)
    shown = text_of(escalation)
    assert "Web" in shown
    assert "人と話したい" in shown, "what the customer asked"
    assert "返品の送料について教えて" in shown, "the transcript so far"
    assert "Earlier conversations:* 1" in shown
    conversation = await served.runtime.store.load(key)
    assert conversation is not None
    if conversation.faq_answered or conversation.faq_suggested:
        assert "FAQ" in shown, "the FAQ entries the bot tried"
    assert button_ids(escalation.args["blocks"]) == ["tsunagu_claim"]

    # A replayed desk event (the dispatcher re-applying effects) posts nothing new.
    posts_before = len(fake.posts())
    for desk in served.runtime.dispatcher.desks:
        await desk.notify(
            DeskEvent(kind="escalated", customer_key=key, conversation_id=conversation.id, text="x")
        )
    # `notify` returns after its Slack calls: a new post would be counted already.
    assert len(fake.posts()) == posts_before


async def test_many_agents_claim_at_once_and_exactly_one_wins(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]

    responses = await asyncio.gather(
        *(fake.click(user, escalation, "tsunagu_claim") for user in AGENTS)
    )
    assert [r.status_code for r in responses] == [200] * len(AGENTS)

    losers: list[ApiCall] = await fake.wait_for(
        lambda: (
            len(fake.calls_to("chat.postEphemeral")) >= len(AGENTS) - 1
            and fake.calls_to("chat.postEphemeral")
        ),
        what="ephemeral refusals",
    )
    conversation = await served.runtime.store.load(f"web:{customer.user_id}")
    assert conversation is not None
    assert conversation.state is ConversationState.WITH_AGENT
    winner = conversation.agent_name
    assert winner in AGENTS.values()
    assert conversation.agent_id == f"slack:{next(u for u, n in AGENTS.items() if n == winner)}"
    claimed_notes = await fake.wait_for(
        lambda: [p for p in fake.posts(DESK, thread_ts=ts) if "claimed" in text_of(p)],
        what="the claim note",
    )
    # Every click has had its answer (a refusal each, the note for the winner): a second
    # note could only come from one of them.
    claimed_notes = [p for p in fake.posts(DESK, thread_ts=ts) if "claimed" in text_of(p)]
    assert len(claimed_notes) == 1 and winner in text_of(claimed_notes[0])
    assert len(losers) == len(AGENTS) - 1
    for refusal in losers:
        assert refusal.args["text"] == f"Not done: already taken by {winner}."
        assert refusal.args["user"] != next(u for u, n in AGENTS.items() if n == winner)
    joined = await customer.next_from("bot")
    assert winner in joined["text"], "the customer hears who joined"
    await fake.wait_for(
        lambda: (
            button_ids(fake.current_blocks(DESK, ts))
            == ["tsunagu_release", "tsunagu_close", "tsunagu_takeover"]
        ),
        what="the message showing Release and Close",
    )
    assert f"Claimed by {winner}" in json.dumps(fake.current_blocks(DESK, ts))


async def test_thread_replies_reach_the_web_customer_and_back(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]

    # Before anyone claims, thread messages are discussion only.
    await fake.user_says(SUZUKI, "誰か対応できますか？", DESK, thread_ts=ts)
    await claimed_by(fake, escalation, SATO)
    assert "Sato" in (await customer.next_from("bot"))["text"]

    await fake.user_says(
        SATO, "ご注文番号を教えてください。 <https://example.com/help|ヘルプ>", DESK, thread_ts=ts
    )
    reply = await customer.next_from("agent")
    assert reply["sender_name"] == "Sato"
    assert reply["text"] == "ご注文番号を教えてください。 ヘルプ (https://example.com/help)"

    await fake.user_says(SUZUKI, "内部メモ: VIP のお客様です", DESK, thread_ts=ts)
    await customer.say("1234 です")
    relayed = await fake.wait_for(
        lambda: [p for p in fake.posts(DESK, thread_ts=ts) if "1234 です" in text_of(p)],
        what="the customer's message in the thread",
    )
    assert len(relayed) == 1
    # Sato's next message, sent after Suzuki's note, marks that the note was handled too.
    await fake.user_says(SATO, "確認いたします。", DESK, thread_ts=ts)
    assert (await customer.next_from("agent"))["text"] == "確認いたします。"
    agent_lines = [m for m in customer.seen if m["sender"] == "agent"]
    assert [m["text"] for m in agent_lines] == [reply["text"], "確認いたします。"], (
        "others' notes stay in Slack"
    )
    transcript = await served.runtime.store.transcript(f"web:{customer.user_id}")
    assert not any("VIP" in entry.text or "誰か" in entry.text for entry in transcript)


async def test_close_asks_the_ces_question_and_returns_the_customer_to_the_bot(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]
    await claimed_by(fake, escalation, SATO)
    await customer.say("注文番号は 1234 です")
    await fake.wait_for(lambda: len(fake.posts(DESK, thread_ts=ts)) >= 2, what="relay")
    await fake.user_says(
        SATO, "確認しました。発送済みです。解決しましたでしょうか？", DESK, thread_ts=ts
    )
    await customer.next_from("agent")

    # Only the claiming agent closes.
    await fake.click(SUZUKI, escalation, "tsunagu_close")
    refusal = await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), what="refusal")
    assert refusal[0].args["user"] == SUZUKI

    assert (await fake.click(SATO, escalation, "tsunagu_close")).status_code == 200
    question = await customer.next_from("bot")
    assert question["kind"] == "survey"
    assert question["choices"], "the CES scale as buttons"
    conversation = await served.runtime.store.load(f"web:{customer.user_id}")
    assert conversation is not None and conversation.state is ConversationState.SURVEY
    await fake.wait_for(
        lambda: "Closed by Sato" in json.dumps(fake.current_blocks(DESK, ts)), what="closed"
    )
    assert button_ids(fake.current_blocks(DESK, ts)) == []


async def test_release_puts_the_customer_back_in_the_queue(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]
    await claimed_by(fake, escalation, SATO)
    await fake.click(SATO, escalation, "tsunagu_release")
    await fake.wait_for(
        lambda: button_ids(fake.current_blocks(DESK, ts)) == ["tsunagu_claim"], what="release"
    )
    key = f"web:{customer.user_id}"
    assert await served.runtime.queue.position(key) == 1
    await claimed_by(fake, escalation, SUZUKI)
    conversation = await served.runtime.store.load(key)
    assert conversation is not None and conversation.agent_id == f"slack:{SUZUKI}"


async def test_cancel_while_waiting_is_noted_and_the_buttons_go(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]
    await customer.say("キャンセル")
    await customer.next_from("bot")
    await fake.wait_for(
        lambda: [p for p in fake.posts(DESK, thread_ts=ts) if "cancelled" in text_of(p)],
        what="cancel note",
    )
    await fake.wait_for(lambda: button_ids(fake.current_blocks(DESK, ts)) == [], what="update")


async def test_low_score_alert_and_follow_up_reopen_the_case_with_the_lead(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say("送料はいくらですか？")
    solved = await customer.next_from("bot", kind="notice")
    await customer.tap(next(c for c in solved["choices"] if c["payload"] == "helpful:yes"))
    survey = await customer.next_from("bot", kind="survey")
    await customer.tap(next(c for c in survey["choices"] if c["payload"] == "rating:2"))
    comment = await customer.next_from("bot", kind="survey")
    assert comment["choices"][0]["payload"] == "survey:skip"
    await customer.say("送料がわかりにくかったです")
    await customer.next_from("bot", kind="notice")

    alerts: list[ApiCall] = await fake.wait_for(
        lambda: [p for p in fake.posts(DESK) if FOLLOW_UP in button_ids(p.args.get("blocks"))],
        what="low-score alert",
    )
    shown = text_of(alerts[0])
    assert "Low survey score 2/7" in shown and "送料がわかりにくかったです" in shown
    assert "送料はいくらですか？" in shown, "the transcript comes with the alert"

    assert (await fake.click(SATO, alerts[0], FOLLOW_UP)).status_code == 200
    notice = await customer.next_from("bot", kind="notice")
    assert "Sato" in notice["text"], "the customer hears who follows up"
    key = f"web:{customer.user_id}"
    conversation = await served.runtime.store.load(key)
    assert conversation is not None
    assert (conversation.state, conversation.agent_id, conversation.agent_name) == (
        ConversationState.WITH_AGENT,
        f"slack:{SATO}",
        "Sato",
    )
    escalations: list[ApiCall] = await fake.wait_for(
        lambda: [
            p
            for p in fake.posts(DESK)
            if "thread_ts" not in p.args and CLOSE in button_ids(p.args.get("blocks"))
        ],
        what="follow-up escalation",
    )
    assert escalations, "a new escalation, already with Sato, to reply in"


HOSTILE_NAME = "<!channel> <@U0SATO> <http://evil.example|click>"


def assert_no_slack_markup(text: str) -> None:
    for markup in ("<!channel>", "<@U0SATO>", "<http://evil.example|click>"):
        assert markup not in text, f"{markup!r} reached Slack as markup: {text!r}"


async def test_a_customers_name_reaches_slack_as_text_never_as_mentions_or_links(
    http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    started = await http.post("/web/conversations", json={"locale": "ja", "name": HOSTILE_NAME})
    body = started.json()
    customer = WebCustomer(http, body["token"], body["user_id"])
    await customer.next_from("bot")
    escalation = await escalate(customer, fake)
    assert_no_slack_markup(escalation.args["text"])
    assert "&lt;!channel&gt;" in escalation.args["text"], "the name is shown, escaped"
    assert_no_slack_markup(text_of(escalation))

    # The low-score alert's notification text as well.
    await fake.click(SATO, escalation, "tsunagu_claim")
    await fake.wait_for(
        lambda: CLOSE in button_ids(fake.current_blocks(DESK, escalation.result["ts"])),
        what="claim",
    )
    await fake.click(SATO, escalation, CLOSE)
    survey = await customer.next_from("bot", kind="survey")
    await customer.tap(next(c for c in survey["choices"] if c["payload"] == "rating:1"))
    await customer.next_from("bot", kind="survey")
    await customer.tap({"payload": "survey:skip", "label": "skip"})
    alerts: list[ApiCall] = await fake.wait_for(
        lambda: [p for p in fake.posts(DESK) if FOLLOW_UP in button_ids(p.args.get("blocks"))],
        what="low-score alert",
    )
    assert_no_slack_markup(alerts[0].args["text"])
    assert_no_slack_markup(text_of(alerts[0]))

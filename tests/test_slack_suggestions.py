"""FAQ answers suggested in a claimed conversation's Slack thread, and "Send this answer".

Real Redis, the real app over HTTP, the real slack_sdk client against the fake Slack API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.faq import FaqLibrary
from bot.records import AgentSuggestion
from bot.settings import Settings
from channels.slack.blocks import SEND_ANSWER
from tests.conftest import ROOT
from tests.fakes.slack_platform import (
    DESK,
    ApiCall,
    FakeSlack,
    SlackTestApp,
    escalations,
    serve_with_slack,
    started_slack,
)
from tests.webclient import WebCustomer

SATO, SUZUKI = "U0SATO", "U0SUZUKI"
ASKED = "返品の送料について、担当者と話したい"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with started_slack((SATO, "Sato"), (SUZUKI, "Suzuki")) as slack:
        yield slack


@pytest.fixture
async def served(make_settings: Callable[..., Settings], fake: FakeSlack) -> AsyncIterator[Any]:
    async with serve_with_slack(make_settings(), fake, DESK) as running:
        yield running


@pytest.fixture
async def http(served: SlackTestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        yield client


def answer_buttons(call: ApiCall) -> list[str]:
    """The "Send this answer" buttons of a post, by FAQ id."""
    return [
        element["value"]
        for block in call.args.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
        if element["action_id"].startswith(f"{SEND_ANSWER}:")
    ]


def suggestion_posts(fake: FakeSlack, thread_ts: str) -> list[ApiCall]:
    return [p for p in fake.posts(DESK, thread_ts=thread_ts) if answer_buttons(p)]


async def claimed_conversation(
    http: httpx.AsyncClient, fake: FakeSlack
) -> tuple[WebCustomer, str, ApiCall]:
    """A web customer asks about return shipping and for a person; Sato claims in Slack.

    Returns the customer, the escalation's ts and the suggestions posted in its thread.
    """
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say(ASKED)
    await customer.next_from("bot")
    escalation = (await escalations(fake))[-1]
    ts = escalation.result["ts"]
    assert suggestion_posts(fake, ts) == [], "nobody holds it yet: nothing to send"
    assert (await fake.click(SATO, escalation, "tsunagu_claim")).status_code == 200
    posts: list[ApiCall] = await fake.wait_for(
        lambda: suggestion_posts(fake, ts), what="the suggestions after the claim"
    )
    await customer.next_from("bot")  # "Sato is here to help you"
    return customer, ts, posts[0]


async def test_claim_posts_the_faq_answers_for_the_customers_latest_message(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, ts, post = await claimed_conversation(http, fake)
    library = FaqLibrary(ROOT / "faq_data")
    expected = library.decide(ASKED, "ja")
    offered = answer_buttons(post)
    assert 1 <= len(offered) <= 3
    assert offered[0] == expected.candidates[0].entry.id
    shown = json.dumps(post.args["blocks"], ensure_ascii=False)
    top = library.entry(offered[0])
    assert top is not None
    assert top.label_for("ja") in shown and top.answer_for("ja")[:40] in shown
    assert ASKED in shown and "%" in shown, "the message and each score"

    # A new message while Sato holds it gets its own suggestions.
    await customer.say("送料っていくらかかりますか？")
    posts: list[ApiCall] = await fake.wait_for(
        lambda: len(suggestion_posts(fake, ts)) == 2 and suggestion_posts(fake, ts),
        what="suggestions for the new message",
    )
    assert answer_buttons(posts[-1])[0] == "shipping-fee"


async def test_only_the_holder_sends_an_answer_and_a_replayed_press_sends_it_once(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, ts, post = await claimed_conversation(http, fake)
    faq_id = answer_buttons(post)[0]
    entry = FaqLibrary(ROOT / "faq_data").entry(faq_id)
    assert entry is not None

    # Suzuki does not hold the conversation: refused, only Suzuki sees why.
    assert (await fake.click(SUZUKI, post, f"{SEND_ANSWER}:{faq_id}")).status_code == 200
    refusals: list[ApiCall] = await fake.wait_for(
        lambda: fake.calls_to("chat.postEphemeral"), what="the refusal"
    )
    assert (refusals[0].args["user"], refusals[0].args["text"]) == (
        SUZUKI,
        "Not done: not your conversation.",
    )

    press = "1764500000.000100"
    clicked = await fake.click(SATO, post, f"{SEND_ANSWER}:{faq_id}", action_ts=press)
    assert clicked.status_code == 200
    sent = await customer.next_from("agent")
    assert (sent["text"], sent["sender_name"]) == (entry.answer_for("ja"), "Sato")
    await fake.wait_for(
        lambda: [p for p in fake.posts(DESK, thread_ts=ts) if "sent the FAQ answer" in str(p.args)],
        what="the note in the thread",
    )

    # Slack delivers the same press again: one reply, one record.
    again = await served.slack.desk.on_send_answer(post.result["ts"], SATO, faq_id, press)
    assert again.ok and again.duplicate
    key = f"web:{customer.user_id}"
    transcript = await served.runtime.store.transcript(key)
    assert [e.text for e in transcript if e.sender == "agent"] == [entry.answer_for("ja")]
    records = [r async for r in served.runtime.records.read(AgentSuggestion)]
    assert [(r.faq_id, r.outcome, r.agent_id, r.agent, r.message) for r in records] == [
        (faq_id, "used", f"slack:{SATO}", "Sato", ASKED)
    ]

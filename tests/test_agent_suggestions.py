"""FAQ answers suggested to agents: the endpoint, what agents did with them, and /admin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot.records import AgentSuggestion
from bot.reports.compute import suggestion_stats
from bot.settings import Settings
from tests.conftest import RunningApp
from tests.webclient import WebCustomer

ADMIN = "suggest-admin-token"
SATO = {"Authorization": "Bearer tok-sato"}
TANAKA = {"Authorization": "Bearer tok-tanaka"}


@pytest.fixture
async def http(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        admin_token=ADMIN, agent_tokens={"Sato": "tok-sato", "Tanaka": "tok-tanaka"}
    )
    running: RunningApp = await serve_app(settings)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=15) as client:
        yield client


def url(customer: WebCustomer, action: str) -> str:
    return f"/agent/api/conversations/{quote(f'web:{customer.user_id}', safe='')}/{action}"


async def customer_with_sato(http: httpx.AsyncClient, question: str) -> WebCustomer:
    """A web customer who asked for a person, was claimed by Sato, then asked `question`."""
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")  # the greeting
    await customer.say("人と話したい")
    await customer.next_from("bot", kind="notice")
    assert (await http.post(url(customer, "claim"), headers=SATO)).status_code == 200
    await customer.next_from("bot", kind="notice")  # "Sato is here to help you"
    await customer.say(question)
    await customer.next_from("customer")  # the echo: the message is in
    for _ in range(50):  # the dispatcher adds it to the transcript right after
        body = (await http.get(url(customer, "suggestions"), headers=SATO)).json()
        if body["message"] == question:
            return customer
        await customer.poll(wait=0.2)
    raise AssertionError(f"the message never reached the transcript: {body}")


async def test_suggestions_for_the_latest_message_in_the_customers_language(
    http: httpx.AsyncClient,
) -> None:
    customer = await customer_with_sato(http, "送料っていくらかかりますか？")
    response = await http.get(url(customer, "suggestions"), headers=TANAKA)
    assert response.status_code == 200
    body = response.json()
    assert body["customer_key"] == f"web:{customer.user_id}" and body["language"] == "ja"
    best = body["suggestions"][0]
    assert best["faq_id"] == "shipping-fee" and best["question"] == "送料はいくらですか？"
    assert best["answer"].startswith("送料は全国一律550円です") and 0.5 <= best["score"] <= 1
    assert 1 <= len(body["suggestions"]) <= 3
    scores = [s["score"] for s in body["suggestions"]]
    assert scores == sorted(scores, reverse=True)

    await customer.say("Do you ship internationally?")
    await customer.next_from("customer")
    for _ in range(50):
        body = (await http.get(url(customer, "suggestions"), headers=SATO)).json()
        if body["message"] == "Do you ship internationally?":
            break
        await customer.poll(wait=0.2)
    assert body["language"] == "en"
    assert body["suggestions"][0]["faq_id"] == "overseas-shipping"
    assert body["suggestions"][0]["answer"] == "Sorry, we currently deliver within Japan only."


async def test_suggestions_need_an_agent_token_and_a_conversation(
    http: httpx.AsyncClient,
) -> None:
    missing = "/agent/api/conversations/web:w_nobody/suggestions"
    assert (await http.get(missing)).status_code == 401
    assert (await http.get(missing, headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await http.get(missing, headers=SATO)).status_code == 404
    bad_key = "/agent/api/conversations/fax:123/suggestions"
    assert (await http.get(bad_key, headers=SATO)).status_code == 400


async def test_what_agents_did_with_suggestions_reaches_admin(http: httpx.AsyncClient) -> None:
    customer = await customer_with_sato(http, "送料はいくらですか？")
    message = "送料はいくらですか？"
    for outcome, faq_id in (("used", "shipping-fee"), ("edited", "shipping-fee")):
        body = {"faq_id": faq_id, "outcome": outcome, "message": message, "score": 1.0}
        if outcome == "edited":
            body["reply"] = "送料は550円です。5,000円以上で無料です。"
        response = await http.post(url(customer, "suggestions/outcome"), json=body, headers=SATO)
        assert response.status_code == 201, response.text
    ignored = {"faq_id": "tracking", "outcome": "ignored", "message": "荷物はどこ？"}
    assert (
        await http.post(url(customer, "suggestions/outcome"), json=ignored, headers=SATO)
    ).status_code == 201

    for bad, status in (
        ({"faq_id": "shipping-fee", "outcome": "loved", "message": message}, 400),
        ({"faq_id": "shipping-fee", "outcome": "used", "message": ""}, 400),
        ({"faq_id": "no-such-entry", "outcome": "used", "message": message}, 422),
    ):
        response = await http.post(url(customer, "suggestions/outcome"), json=bad, headers=SATO)
        assert response.status_code == status, response.text
    anonymous_admin = {"Authorization": f"Bearer {ADMIN}"}
    response = await http.post(
        url(customer, "suggestions/outcome"), json=ignored, headers=anonymous_admin
    )
    assert response.status_code == 400 and "X-Agent-Name" in response.json()["detail"]

    report = await http.get(
        "/admin/api/report", params={"days": 7}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    stats = report.json()["agent_suggestions"]
    assert (stats["replies"], stats["used"], stats["edited"], stats["ignored"]) == (3, 1, 1, 1)
    assert stats["from_faq_share"] == pytest.approx(2 / 3, abs=1e-3)
    first = stats["entries"][0]
    assert (first["faq_id"], first["used"], first["edited"]) == ("shipping-fee", 1, 1)
    assert first["question"] == "送料はいくらですか？"
    # Grouped by the agent's id, shown by their name.
    assert [(a["agent_id"], a["name"], a["replies"]) for a in stats["agents"]] == [
        ("console:Sato", "Sato", 3)
    ]


def test_agents_answering_from_the_faq_are_told_apart_by_id() -> None:
    """Two agents called Sato are two rows; a record from before ids counts under its name."""

    def used(agent_id: str | None, name: str, outcome: str, at: float) -> AgentSuggestion:
        return AgentSuggestion(
            customer_key="web:w1",
            conversation_id="c1",
            channel="web",
            agent=name,
            agent_id=agent_id,
            message="送料は？",
            faq_id="shipping-fee",
            outcome=outcome,  # type: ignore[arg-type]
            time=at,
        )

    stats = suggestion_stats(
        [
            used("slack:U1", "Sato", "used", 1.0),
            used("slack:U1", "Sato", "edited", 2.0),
            used("console:Sato", "Sato", "ignored", 3.0),
            used(None, "Kato", "used", 4.0),
        ],
        str,
    )
    assert stats is not None
    assert [(a.agent_id, a.name, a.replies, a.from_faq_share) for a in stats.agents] == [
        ("slack:U1", "Sato (slack:U1)", 2, 1.0),
        ("legacy:Kato", "Kato", 1, 1.0),
        ("console:Sato", "Sato (console:Sato)", 1, 0.0),
    ]

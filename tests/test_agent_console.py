"""The web agent console end to end: real HTTP, real Redis, a real web customer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot.composition.app import create_app
from bot.composition.runtime import Runtime
from bot.conversation import ConversationState
from bot.serving import serve_in_loop
from bot.settings import Settings
from handoff.console import AgentConsole
from tests.conftest import RunningApp
from tests.eventually import eventually
from tests.webclient import WebCustomer

ADMIN = "admin-secret-token"
SATO = {"Authorization": "Bearer tok-sato"}
TANAKA = {"Authorization": "Bearer tok-tanaka"}


def as_admin(name: str | None = None) -> dict[str, str]:
    """Admin-token headers, with the typed display name if any."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    if name is not None:
        headers["X-Agent-Name"] = quote(name)
    return headers


def path(customer: WebCustomer, action: str = "") -> str:
    """The console URL of a web customer's conversation (the key URL-encoded)."""
    url = f"/agent/api/conversations/{quote(f'web:{customer.user_id}', safe='')}"
    return f"{url}/{action}" if action else url


@pytest.fixture
async def console_app(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningApp]:
    """The app with the console mounted, served on a free port."""
    settings = make_settings(
        admin_token=ADMIN, agent_tokens={"Sato": "tok-sato", "Tanaka": "tok-tanaka"}
    )
    rt = Runtime(settings)
    app = create_app(settings, runtime=rt)
    async with serve_in_loop(app) as base_url:
        yield RunningApp(rt, base_url)
    await rt.redis.aclose()


@pytest.fixture
async def http(console_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_app.base_url, timeout=15) as client:
        yield client


async def escalate(http: httpx.AsyncClient, text: str = "人と話したい") -> WebCustomer:
    """A web customer who asks for a person and is told they are in line."""
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")  # the greeting
    await customer.say(text)
    notice = await customer.next_from("bot")
    assert notice["kind"] == "notice", notice
    return customer


async def queue(http: httpx.AsyncClient, headers: dict[str, str] = SATO) -> dict[str, Any]:
    response = await http.get("/agent/api/queue", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def conversation(http: httpx.AsyncClient, customer: WebCustomer) -> dict[str, Any]:
    response = await http.get(path(customer), headers=SATO)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_no_or_bad_token_gets_401_and_changes_nothing(
    console_app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await escalate(http)
    key = f"web:{customer.user_id}"
    before = await console_app.runtime.store.transcript(key, 200)
    refused = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN}x"},
        {"Authorization": f"Basic {ADMIN}"},
        {"Authorization": "Bearer"},
    ]
    for headers in refused:
        assert (await http.get("/agent/api/queue", headers=headers)).status_code == 401
        assert (await http.get("/agent/api/me", headers=headers)).status_code == 401
        assert (await http.get(path(customer), headers=headers)).status_code == 401
        for action in ("claim", "release", "close"):
            response = await http.post(path(customer, action), headers=headers)
            assert response.status_code == 401, (action, headers)
            assert response.headers["www-authenticate"] == "Bearer"
        body = {"text": "hello", "client_id": "c1"}
        assert (
            await http.post(path(customer, "reply"), json=body, headers=headers)
        ).status_code == 401
    stored = await console_app.runtime.store.load(key)
    assert stored is not None and stored.state is ConversationState.QUEUED
    assert await console_app.runtime.queue.position(key) == 1
    assert await console_app.runtime.store.transcript(key, 200) == before
    await customer.poll()  # an accepted reply is in the outbox before its 200
    assert [m for m in customer.seen if m["sender"] == "agent"] == []


async def test_a_customer_asking_for_a_person_is_listed_with_position(
    http: httpx.AsyncClient,
) -> None:
    first = await escalate(http)
    second = await escalate(http, "オペレーターと話したいです")
    body = await queue(http)
    waiting = body["waiting"]
    assert [w["customer_key"] for w in waiting] == [f"web:{first.user_id}", f"web:{second.user_id}"]
    assert [w["position"] for w in waiting] == [1, 2]
    assert waiting[0]["channel"] == "web"
    assert waiting[0]["last_message"] == "人と話したい"
    assert waiting[1]["last_message"] == "オペレーターと話したいです"
    assert waiting[0]["waiting_since"] <= waiting[1]["waiting_since"]
    assert body["with_agents"] == []

    detail = await conversation(http, second)
    assert detail["state"] == "queued" and detail["position"] == 2 and detail["agent"] is None
    assert [line["sender"] for line in detail["transcript"]][-2:] == ["customer", "bot"]
    assert detail["history"] == []

    # Polling is cheap: an unchanged queue answers 304 to the ETag it was given.
    first_poll = await http.get("/agent/api/queue", headers=SATO)
    again = await http.get(
        "/agent/api/queue", headers={**SATO, "If-None-Match": first_poll.headers["etag"]}
    )
    assert again.status_code == 304


async def test_of_ten_simultaneous_claims_exactly_one_wins(http: httpx.AsyncClient) -> None:
    customer = await escalate(http)
    names = [f"Agent {n}" for n in range(8)] + ["佐藤", "田中"]
    responses = await asyncio.gather(
        *(http.post(path(customer, "claim"), headers=as_admin(name)) for name in names)
    )
    winners = [name for name, r in zip(names, responses, strict=True) if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in responses]
    winner = winners[0]
    losers = [r for r in responses if r.status_code != 200]
    assert {r.status_code for r in losers} == {409}
    for response in losers:
        assert response.json()["detail"] == f"already taken by {winner}"
        assert response.json()["agent"] == winner
    joined = await customer.next_from("bot")
    assert winner in joined["text"], "the customer is told who joined"
    body = await queue(http)
    assert body["waiting"] == []
    assert [(c["customer_key"], c["agent"]) for c in body["with_agents"]] == [
        (f"web:{customer.user_id}", winner)
    ]
    # A claim after the fact loses the same way.
    late = await http.post(path(customer, "claim"), headers=TANAKA)
    assert late.status_code == 409 and late.json()["detail"] == f"already taken by {winner}"


async def test_replies_reach_the_customer_and_the_customer_reaches_the_agent(
    console_app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await escalate(http)
    assert (await http.post(path(customer, "claim"), headers=SATO)).status_code == 200
    reply = {"text": "佐藤です。ご用件をお伺いします。", "client_id": "r-1"}
    first = await http.post(path(customer, "reply"), json=reply, headers=SATO)
    assert first.status_code == 200 and first.json()["message_id"] == "r-1"
    retry = await http.post(path(customer, "reply"), json=reply, headers=SATO)
    assert retry.status_code == 200 and retry.json()["duplicate"] is True

    said = await customer.next_from("agent")
    assert said["text"] == reply["text"] and said["sender_name"] == "Sato"
    await customer.poll()  # both requests were answered: anything sent twice is there
    assert [m["text"] for m in customer.seen if m["sender"] == "agent"] == [reply["text"]]

    someone_else = await http.post(
        path(customer, "reply"), json={"text": "hi", "client_id": "r-2"}, headers=TANAKA
    )
    assert someone_else.status_code == 409

    await customer.say("注文番号は A-123 です")

    async def transcript_with_the_order_number() -> list[dict[str, Any]] | None:
        lines: list[dict[str, Any]] = (await conversation(http, customer))["transcript"]
        return lines if any(line["text"] == "注文番号は A-123 です" for line in lines) else None

    transcript = await eventually(
        transcript_with_the_order_number, what="the customer's words reach the transcript"
    )
    agent_lines = [line for line in transcript if line["sender"] == "agent"]
    assert [(line["sender_name"], line["text"]) for line in agent_lines] == [
        ("Sato", reply["text"])
    ]
    assert transcript[-1]["sender"] == "customer"
    listed = (await queue(http))["with_agents"][0]
    assert listed["last_message"] == "注文番号は A-123 です"


async def test_release_puts_the_customer_back_in_line(http: httpx.AsyncClient) -> None:
    customer = await escalate(http)
    waited_since = (await queue(http))["waiting"][0]["waiting_since"]
    assert (await http.post(path(customer, "claim"), headers=SATO)).status_code == 200
    refused = await http.post(path(customer, "release"), headers=TANAKA)
    assert refused.status_code == 409 and refused.json()["agent"] == "Sato"

    released = await http.post(path(customer, "release"), headers=SATO)
    assert released.status_code == 200 and released.json()["state"] == "queued"
    body = await queue(http)
    assert [(w["customer_key"], w["position"]) for w in body["waiting"]] == [
        (f"web:{customer.user_id}", 1)
    ]
    assert body["waiting"][0]["waiting_since"] == waited_since, "the place in line is kept"
    assert body["with_agents"] == []
    assert (await http.post(path(customer, "claim"), headers=TANAKA)).status_code == 200


async def test_close_asks_the_customer_the_survey_question(http: httpx.AsyncClient) -> None:
    customer = await escalate(http)
    assert (await http.post(path(customer, "claim"), headers=SATO)).status_code == 200
    assert (await http.post(path(customer, "close"), headers=TANAKA)).status_code == 409

    closed = await http.post(path(customer, "close"), headers=SATO)
    assert closed.status_code == 200 and closed.json()["state"] == "survey"
    survey = await customer.next_from("bot")
    while survey["kind"] != "survey":
        survey = await customer.next_from("bot")
    payloads = [c["payload"] for c in survey["choices"]]
    assert len(payloads) >= 2 and all(p.startswith("rating:") for p in payloads), payloads
    assert (await queue(http)) == {"waiting": [], "with_agents": []}

    # Answer every question (top score, so no comment is asked for), then it is closed.
    for _ in range(5):
        await customer.tap(survey["choices"][-1])
        survey = await customer.next_from("bot")
        if survey["kind"] != "survey":
            break

    async def closed() -> dict[str, Any] | None:
        detail: dict[str, Any] = await conversation(http, customer)
        return detail if detail["state"] == "closed" else None

    detail = await eventually(closed, what="the conversation is closed")
    assert [h.get("agent") for h in detail["history"]] == ["Sato"]


async def test_the_admin_token_acts_under_the_typed_name(http: httpx.AsyncClient) -> None:
    me = await http.get("/agent/api/me", headers=as_admin())
    labels = me.json().pop("channels")
    assert labels["line"] == {"ja": "LINE", "en": "LINE"}, "the page names channels as told"
    assert {k: v for k, v in me.json().items() if k != "channels"} == {
        "id": None,
        "name": None,
        "via": "admin_token",
    }
    me = await http.get("/agent/api/me", headers=as_admin("山田 花子"))
    assert {k: v for k, v in me.json().items() if k != "channels"} == {
        "id": "admin:山田 花子",
        "name": "山田 花子",
        "via": "admin_token",
    }
    assert (await http.get("/agent/api/me", headers=SATO)).json()["via"] == "agent_token"

    customer = await escalate(http)
    nameless = await http.post(path(customer, "claim"), headers=as_admin())
    assert nameless.status_code == 400
    claimed = await http.post(path(customer, "claim"), headers=as_admin("山田 花子"))
    assert claimed.status_code == 200 and claimed.json()["agent"] == "山田 花子"
    assert "山田 花子" in (await customer.next_from("bot"))["text"]


async def test_unknown_or_malformed_customer_keys(http: httpx.AsyncClient) -> None:
    missing = "/agent/api/conversations/web%3Aw_000000000000000000000000"
    assert (await http.get(missing, headers=SATO)).status_code == 404
    assert (await http.post(f"{missing}/claim", headers=SATO)).status_code == 404
    bad = await http.get("/agent/api/conversations/fax%3A123", headers=SATO)
    assert bad.status_code == 400 and bad.json()["problems"]


async def test_the_page_and_its_api_are_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/agent")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "/agent/assets/agent.js" in page.text
    script = await http.get("/agent/assets/agent.js")
    assert script.status_code == 200 and "textContent" in script.text
    assert "innerHTML" not in script.text
    assert (await http.get("/agent/assets/agent.css")).status_code == 200
    assert (await http.get("/agent/assets/secrets.txt")).status_code == 404
    spec = (await http.get("/openapi.json")).json()
    console_paths = {
        url
        for url, ops in spec["paths"].items()
        for op in ops.values()
        if "agent console" in op["tags"]
    }
    assert "/agent/api/queue" in console_paths
    assert "/agent/api/conversations/{customer_key}/claim" in console_paths


async def test_a_generated_admin_token_is_shared_and_logged(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(admin_token=None, port=8123)
    runtimes = [Runtime(settings), Runtime(settings)]
    try:
        consoles = [AgentConsole(rt) for rt in runtimes]
        with caplog.at_level(logging.WARNING, logger="tsunagu.console"):
            for console in consoles:
                await console.start()
        tokens = {console.auth.admin_token for console in consoles}
        assert len(tokens) == 1, "every process accepts the same generated token"
        token = tokens.pop()
        assert len(token) >= 32
        assert f"http://127.0.0.1:8123/agent#token={token}" in caplog.text
        agent = consoles[1].auth.identify(f"Bearer {token}", quote("Kato"))
        assert agent is not None and agent.name == "Kato"
        assert consoles[1].auth.identify("Bearer guess", None) is None
    finally:
        for rt in runtimes:
            await rt.redis.aclose()

"""The web channel end to end, over real HTTP against a real Redis."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from bot.faq import Outcome
from tests.conftest import RunningApp
from tests.eventually import settled
from tests.webclient import WebCustomer


@pytest.fixture
async def http(app: RunningApp) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as client:
        yield client


async def test_greets_then_answers_from_the_faq_in_both_languages(http: httpx.AsyncClient) -> None:
    customer = await WebCustomer.start(http)
    greeting = await customer.next_from("bot")
    assert greeting["kind"] == "greeting"
    assert greeting["choices"], "the greeting offers the top FAQ topics"

    assert (await customer.say("送料はいくらですか？")).status_code == 202
    answer = await customer.next_from("bot")
    assert answer["kind"] == "answer"
    assert "550" in answer["text"]
    solved = await customer.next_from("bot")
    assert [c["payload"] for c in solved["choices"]] == ["helpful:yes", "helpful:no"]

    await customer.say("How much is shipping?")
    answer = await customer.next_from("bot")
    assert answer["kind"] == "answer"
    assert "550 yen" in answer["text"], "an English question gets the English answer"
    assert (await customer.next_from("bot"))["text"] == "Did this solve it?"


async def test_own_messages_come_back_in_order_with_their_client_id(
    http: httpx.AsyncClient,
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say("送料はいくらですか？", client_id="first")
    echo = await customer.next_from("customer")
    assert echo["client_id"] == "first"
    assert echo["text"] == "送料はいくらですか？"
    cursors = [m["cursor"] for m in customer.seen]
    assert cursors == sorted(cursors, key=lambda c: tuple(map(int, c.split("-"))))


VAGUE = ["支払い", "注文について", "配送", "アカウント", "商品について", "order", "payment"]


async def test_unsure_question_offers_choices_and_a_tap_answers(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    # Whichever of these the current FAQ finds ambiguous (the matcher evolves).
    vague = next(t for t in VAGUE if app.runtime.faq.decide(t).outcome is Outcome.SUGGEST)
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say(vague)
    reply = await customer.next_from("bot")
    assert reply["kind"] == "suggest", reply
    faq_choices = [c for c in reply["choices"] if c["payload"].startswith("faq:")]
    assert 1 <= len(faq_choices) <= 3
    assert reply["choices"][-1]["payload"] == "none", "a way out when nothing fits"

    await customer.tap(faq_choices[0])
    answer = await customer.next_from("bot")
    assert answer["kind"] == "answer"
    assert answer["text"] == app.runtime.faq.entry(faq_choices[0]["payload"][4:]).answer_for("ja")


async def test_nothing_relevant_says_so_and_offers_a_person(http: httpx.AsyncClient) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say("おすすめの映画を教えて")
    reply = await customer.next_from("bot")
    assert reply["kind"] == "fallback"
    assert [c["payload"] for c in reply["choices"]] == ["handoff"]


async def test_resending_the_same_client_id_is_handled_once(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    for _ in range(3):
        assert (await customer.say("送料はいくらですか？", client_id="again")).status_code == 202
    await customer.next_from("bot")
    await settled(app.runtime.inbox)
    await customer.poll()
    assert [m["sender"] for m in customer.seen].count("customer") == 1
    answers = [m for m in customer.seen if m["sender"] == "bot" and m["kind"] == "answer"]
    assert len(answers) == 1
    assert [m["sender"] for m in customer.seen] == ["bot", "customer", "bot", "bot"]


async def test_bad_or_missing_token_is_refused_and_nothing_is_stored(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await WebCustomer.start(http)
    forged = customer.token[:-4] + ("AAAA" if not customer.token.endswith("AAAA") else "BBBB")
    body = {"text": "送料は？", "client_id": "x1"}
    for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Basic abc"}):
        response = await http.post("/web/messages", json=body, headers=headers)
        assert response.status_code == 401
    assert (
        await http.get("/web/messages", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    assert await app.runtime.redis.exists(
        app.runtime.keys.web_outbox(f"web:{customer.user_id}")
    ) in (0, 1)  # only the greeting, never the refused text
    await customer.next_from("bot")
    await settled(app.runtime.inbox)
    await customer.poll()
    assert not any(m["sender"] == "customer" for m in customer.seen)


async def test_malformed_bodies_get_400_with_a_reason(http: httpx.AsyncClient) -> None:
    customer = await WebCustomer.start(http)
    cases = [
        {"client_id": "a"},
        {"text": "x", "choice": "faq:x", "client_id": "a"},
        {"text": "   ", "client_id": "a"},
        {"text": "x", "client_id": "bad id with spaces"},
    ]
    for body in cases:
        response = await http.post("/web/messages", json=body, headers=customer.auth)
        assert response.status_code == 400, body
        assert response.json()["problems"], body
    response = await http.post(
        "/web/messages",
        content=b"{not json",
        headers={**customer.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400


async def test_websocket_resumes_after_a_drop_without_loss_or_repeat(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await WebCustomer.start(http)
    ws_url = app.base_url.replace("http", "ws") + f"/web/ws?token={customer.token}"
    received: list[dict[str, object]] = []

    async def read_until(socket: websockets.ClientConnection, count: int) -> None:
        while len(received) < count:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if frame["type"] == "message":
                received.append(frame["message"])

    async with websockets.connect(ws_url) as socket:
        await read_until(socket, 1)  # the greeting
        await customer.say("送料はいくらですか？")
        await read_until(socket, 4)  # echo + answer + "did this solve it?"
    # Dropped. Meanwhile the customer (another tab) asks again.
    await customer.say("How much is shipping?")
    async with websockets.connect(ws_url + f"&after={received[-1]['cursor']}") as socket:
        await read_until(socket, 7)
    ids = [m["message_id"] for m in received]
    assert len(ids) == len(set(ids)), "nothing shown twice"
    senders = [m["sender"] for m in received]
    assert senders == ["bot", "customer", "bot", "bot", "customer", "bot", "bot"]


async def test_websocket_refuses_a_bad_token(app: RunningApp) -> None:
    ws_url = app.base_url.replace("http", "ws") + "/web/ws?token=forged"
    async with websockets.connect(ws_url) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["redis"] == "ok"
    assert ready.json()["faq_entries"] >= 30


async def test_demo_page_and_widget_are_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200 and "/widget.js" in page.text
    widget = await http.get("/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    spec = (await http.get("/openapi.json")).json()
    assert {"/web/conversations", "/web/messages"} <= set(spec["paths"])


async def test_metrics_count_messages_replies_and_handoffs(http: httpx.AsyncClient) -> None:
    customer = await WebCustomer.start(http)
    await customer.say("送料はいくらですか？")
    await customer.next_from("bot", kind="answer")
    await customer.next_from("bot", kind="notice")  # "did this solve it?"
    await customer.say("人と話したい")
    queued = await customer.next_from("bot", kind="notice")
    assert "担当者におつなぎします" in queued["text"]
    text = (await http.get("/metrics")).text
    assert 'tsunagu_messages_total{channel="web",kind="text"}' in text
    assert 'tsunagu_replies_total{channel="web",kind="answer"}' in text
    assert 'tsunagu_handoffs_total{channel="web"}' in text
    assert "tsunagu_queue_length 1.0" in text

"""Agents are identities, not names; their actions are committed and applied like events.

Real Redis, the real app over HTTP (agent console), the real slack_sdk and slack-bolt
against the fake Slack platform, a real web customer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot.actor import Actor
from bot.composition.runtime import Runtime
from bot.conversation import ConversationState
from bot.flow.agent_turn import AgentAction, AgentRequest
from bot.records import ConversationRecord
from bot.settings import Settings
from channels.slack.blocks import CLAIM, CLOSE, RELEASE, TAKEOVER
from tests.fakes.slack_platform import (
    DESK,
    ApiCall,
    FakeSlack,
    SlackTestApp,
    escalated_web_customer,
    serve_with_slack,
    started_slack,
)
from tests.webclient import WebCustomer

ADMIN = "admin-secret-token"
SATO_TOKEN = {"Authorization": "Bearer tok-sato"}
TANAKA_TOKEN = {"Authorization": "Bearer tok-tanaka"}
SLACK_SATO = "U0SATO"  # a Slack user whose display name is also "Sato"
SATO_1, SATO_2 = "U0SATO1", "U0SATO2"  # two different people called 佐藤


def as_admin(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}", "X-Agent-Name": quote(name)}


def path(customer: WebCustomer, action: str = "") -> str:
    url = f"/agent/api/conversations/{quote(f'web:{customer.user_id}', safe='')}"
    return f"{url}/{action}" if action else url


def text_of(call: ApiCall) -> str:
    return json.dumps(call.args.get("blocks") or call.args.get("text"), ensure_ascii=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with started_slack((SLACK_SATO, "Sato"), (SATO_1, "佐藤"), (SATO_2, "佐藤")) as slack:
        yield slack


@pytest.fixture
def desk_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        admin_token=ADMIN, agent_tokens={"Sato": "tok-sato", "Tanaka": "tok-tanaka"}
    )


@pytest.fixture
async def served(desk_settings: Settings, fake: FakeSlack) -> AsyncIterator[SlackTestApp]:
    async with serve_with_slack(desk_settings, fake, DESK) as running:
        yield running


@pytest.fixture
async def http(served: SlackTestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        yield client


async def refusal_to(fake: FakeSlack, user: str, count: int = 1) -> list[ApiCall]:
    """The ephemeral "Not done" notes `user` got, once there are `count` of them."""
    found: list[ApiCall] = await fake.wait_for(
        lambda: (
            len(notes := [c for c in fake.calls_to("chat.postEphemeral") if c.args["user"] == user])
            >= count
            and notes
        ),
        what=f"refusal to {user}",
    )
    return found


async def agent_lines(customer: WebCustomer, last: str) -> list[tuple[str, str]]:
    """What agents said to the customer, once `last` (the holder's latest words) arrived."""
    while True:
        message = await customer.next_from("agent")
        if message["text"] == last:
            break
    return [(m["sender_name"], m["text"]) for m in customer.seen if m["sender"] == "agent"]


async def test_three_people_called_sato_are_three_agents(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]
    key = f"web:{customer.user_id}"
    claimed = await http.post(path(customer, "claim"), headers=SATO_TOKEN)
    assert claimed.status_code == 200
    assert (claimed.json()["agent"], claimed.json()["agent_id"]) == ("Sato", "console:Sato")

    # A Slack user also called "Sato" writes in the thread and presses Release: neither is
    # the console's Sato.
    await fake.user_says(SLACK_SATO, "Slack の Sato です", DESK, thread_ts=ts)
    await fake.click(SLACK_SATO, escalation, RELEASE)
    [refusal] = await refusal_to(fake, SLACK_SATO)
    assert refusal.args["text"] == "Not done: not your conversation."

    # The admin token may not take an agent token's name, nor act in its conversation.
    as_sato = await http.post(
        path(customer, "reply"),
        json={"text": "admin", "client_id": "a-1"},
        headers=as_admin("Sato"),
    )
    assert as_sato.status_code == 400 and "agent token" in as_sato.json()["detail"]
    as_other = await http.post(
        path(customer, "reply"),
        json={"text": "admin", "client_id": "a-2"},
        headers=as_admin("佐藤"),
    )
    assert as_other.status_code == 409
    assert (as_other.json()["agent"], as_other.json()["agent_id"]) == ("Sato", "console:Sato")
    assert (await http.post(path(customer, "release"), headers=as_admin("佐藤"))).status_code == 409
    assert (await http.post(path(customer, "close"), headers=as_admin("佐藤"))).status_code == 409

    reply = {"text": "コンソールの Sato です", "client_id": "s-1"}
    assert (await http.post(path(customer, "reply"), json=reply, headers=SATO_TOKEN)).is_success
    assert await agent_lines(customer, reply["text"]) == [("Sato", reply["text"])]
    conversation = await served.runtime.store.load(key)
    assert conversation is not None
    assert (conversation.state, conversation.agent_id) == (
        ConversationState.WITH_AGENT,
        "console:Sato",
    )
    transcript = await served.runtime.store.transcript(key)
    assert [e.text for e in transcript if e.sender == "agent"] == [reply["text"]]


async def test_two_slack_users_with_one_name_are_two_agents_and_takeover_is_explicit(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]
    key = f"web:{customer.user_id}"
    await fake.click(SATO_1, escalation, CLAIM)
    await fake.wait_for(
        lambda: (
            f"Claimed by 佐藤* (<@{SATO_1}>)"
            in json.dumps(fake.current_blocks(DESK, ts), ensure_ascii=False)
        ),
        what="the claim, showing which 佐藤",
    )
    await fake.user_says(SATO_2, "もう一人の佐藤です", DESK, thread_ts=ts)
    await fake.click(SATO_2, escalation, CLOSE)
    [refusal] = await refusal_to(fake, SATO_2)
    assert refusal.args["text"] == "Not done: not your conversation."
    await fake.user_says(SATO_1, "担当の佐藤です", DESK, thread_ts=ts)
    assert await agent_lines(customer, "担当の佐藤です") == [("佐藤", "担当の佐藤です")]

    # Taking over is a button of its own, and it is written down.
    await fake.click(SATO_2, escalation, TAKEOVER)
    await fake.wait_for(
        lambda: [p for p in fake.posts(DESK, thread_ts=ts) if "Taken over" in text_of(p)],
        what="the takeover note",
    )
    conversation = await served.runtime.store.load(key)
    assert conversation is not None and conversation.agent_id == f"slack:{SATO_2}"
    [takeover] = conversation.takeovers
    assert (takeover.from_agent_id, takeover.agent_id) == (f"slack:{SATO_1}", f"slack:{SATO_2}")
    transcript = await served.runtime.store.transcript(key)
    assert any(
        e.sender == "system" and f"slack:{SATO_1}" in e.text and f"slack:{SATO_2}" in e.text
        for e in transcript
    )
    await fake.user_says(SATO_2, "引き継ぎました", DESK, thread_ts=ts)
    assert await agent_lines(customer, "引き継ぎました") == [
        ("佐藤", "担当の佐藤です"),
        ("佐藤", "引き継ぎました"),
    ]
    # The first 佐藤 lost the conversation: their Release is refused now.
    await fake.click(SATO_1, escalation, RELEASE)
    await refusal_to(fake, SATO_1)


async def test_a_console_takeover_is_recorded_in_transcript_desk_and_report_record(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, escalation = await escalated_web_customer(http, fake)
    ts = escalation.result["ts"]
    key = f"web:{customer.user_id}"
    assert (await http.post(path(customer, "claim"), headers=SATO_TOKEN)).is_success
    assert "Sato" in (await customer.next_from("bot", kind="notice"))["text"]
    assert (await http.post(path(customer, "takeover"), headers=SATO_TOKEN)).status_code == 409

    taken = await http.post(path(customer, "takeover"), headers=TANAKA_TOKEN)
    assert taken.status_code == 200 and taken.json()["agent_id"] == "console:Tanaka"
    assert "Tanaka" in (await customer.next_from("bot", kind="notice"))["text"]
    await fake.wait_for(
        lambda: [
            p
            for p in fake.posts(DESK, thread_ts=ts)
            if "Taken over" in text_of(p) and "console:Sato" in text_of(p)
        ],
        what="the takeover note in Slack",
    )
    late = await http.post(
        path(customer, "reply"), json={"text": "まだ私です", "client_id": "s-1"}, headers=SATO_TOKEN
    )
    assert late.status_code == 409 and late.json()["agent_id"] == "console:Tanaka"
    detail = (await http.get(path(customer), headers=TANAKA_TOKEN)).json()
    assert detail["agent_id"] == "console:Tanaka"
    assert any(line["sender"] == "system" for line in detail["transcript"])

    assert (await http.post(path(customer, "close"), headers=TANAKA_TOKEN)).is_success
    await customer.next_from("bot", kind="survey")
    records = served.runtime.records
    await customer.say("7")
    await customer.next_from("bot", kind="notice")
    [record] = [r async for r in records.read(ConversationRecord)]
    assert (record.agent_id, record.agent, record.takeovers) == ("console:Tanaka", "Tanaka", 1)
    assert record.conversation_id == (await served.runtime.store.load(key) or record).id


async def test_a_client_id_reused_by_someone_else_is_refused_not_a_duplicate(
    http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, _ = await escalated_web_customer(http, fake)
    assert (await http.post(path(customer, "claim"), headers=SATO_TOKEN)).is_success
    reply = {"text": "佐藤です", "client_id": "same-id"}
    assert (await http.post(path(customer, "reply"), json=reply, headers=SATO_TOKEN)).is_success

    reused = await http.post(
        path(customer, "reply"),
        json={"text": "田中です", "client_id": "same-id"},
        headers=TANAKA_TOKEN,
    )
    assert reused.status_code == 409, reused.text
    assert reused.json()["agent_id"] == "console:Sato"
    retry = await http.post(path(customer, "reply"), json=reply, headers=SATO_TOKEN)
    assert retry.status_code == 200 and retry.json()["duplicate"] is True
    follow = {"text": "ご用件をどうぞ", "client_id": "next-id"}
    assert (await http.post(path(customer, "reply"), json=follow, headers=SATO_TOKEN)).is_success
    assert await agent_lines(customer, follow["text"]) == [
        ("Sato", "佐藤です"),
        ("Sato", "ご用件をどうぞ"),
    ]


async def test_closing_with_surveys_off_closes_and_the_customer_carries_on(
    make_settings: Callable[..., Settings], fake: FakeSlack, redis_client: Any
) -> None:
    settings = make_settings(
        admin_token=ADMIN, agent_tokens={"Sato": "tok-sato"}, survey_questions=[]
    )
    async with (
        serve_with_slack(settings, fake, DESK) as served,
        httpx.AsyncClient(base_url=served.base_url, timeout=15) as http,
    ):
        customer, _ = await escalated_web_customer(http, fake)
        key = f"web:{customer.user_id}"
        assert (await http.post(path(customer, "claim"), headers=SATO_TOKEN)).is_success
        closed = await http.post(path(customer, "close"), headers=SATO_TOKEN)
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "closed"
        conversation = await served.runtime.store.load(key)
        assert conversation is not None and conversation.state is ConversationState.CLOSED

        # The customer's next words start a new conversation with the bot, as usual.
        await customer.say("送料はいくらですか？")
        answer = await customer.next_from("bot", kind="answer")
        assert answer["text"]
        assert await redis_client.xlen(served.runtime.keys.inbox_dead()) == 0
        [record] = [r async for r in served.runtime.records.read(ConversationRecord)]
        assert (record.agent_id, record.survey) == ("console:Sato", "not_asked")


async def test_an_action_committed_before_a_crash_is_finished_by_a_retry_or_a_restart(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack, desk_settings: Settings
) -> None:
    customer, _ = await escalated_web_customer(http, fake)
    key = f"web:{customer.user_id}"
    agents = served.runtime.agents
    sato = Actor.console("Sato")

    # The claim is committed, then the process dies before anything is carried out.
    claim = AgentRequest(AgentAction.CLAIM, sato, "claim-1")
    assert not isinstance(await agents.commit(key, claim), type(None))
    stored = await served.runtime.store.handled(key, claim.event_id)
    assert stored is not None and not stored.applied
    assert await served.runtime.queue.position(key) == 1, "not dequeued yet"
    # The console retries with the same Idempotency-Key: the first claim is finished.
    retried = await http.post(
        path(customer, "claim"), headers={**SATO_TOKEN, "Idempotency-Key": "claim-1"}
    )
    assert retried.status_code == 200 and retried.json()["duplicate"] is True
    assert "Sato" in (await customer.next_from("bot", kind="notice"))["text"]
    assert await served.runtime.queue.position(key) is None

    # The close is committed, then the process dies; nobody retries. A restarted process
    # finds the intent and carries the close out: the survey question, its timer.
    close = AgentRequest(AgentAction.CLOSE, sato, "close-1")
    assert await agents.commit(key, close) is not None
    assert await agents.pending(), "the intent is remembered"
    restarted = Runtime(desk_settings)
    await restarted.start(run_worker=True)
    try:
        survey = await customer.next_from("bot", kind="survey")
        assert survey["choices"]
        stored = await served.runtime.store.handled(key, close.event_id)
        assert stored is not None and stored.applied
        conversation = await served.runtime.store.load(key)
        assert conversation is not None and conversation.state is ConversationState.SURVEY
        timers = await served.runtime.redis.zrange(served.runtime.timers.key, 0, -1)
        assert f"survey_timeout|{key}|{conversation.id}" in timers
    finally:
        await restarted.stop()
        await restarted.redis.aclose()
    assert await agents.pending() == []
    # Replaying again changes nothing: the customer got the question once.
    assert await agents.recover(older_than=0) == 0
    surveys = [m for m in customer.seen if m["kind"] == "survey"]
    assert len(surveys) == 1


async def test_a_conversation_stored_with_only_an_agent_name_is_read_and_not_trusted(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, _ = await escalated_web_customer(http, fake)
    key = f"web:{customer.user_id}"
    assert (await http.post(path(customer, "claim"), headers=SATO_TOKEN)).is_success
    # As an earlier version stored it: the agent is a bare name.
    redis, hash_key = served.runtime.redis, served.runtime.keys.conversation(key)
    doc = json.loads(await redis.hget(hash_key, "doc"))
    doc["agent"] = doc.pop("agent_name")
    del doc["agent_id"]
    await redis.hset(hash_key, "doc", json.dumps(doc))

    conversation = await served.runtime.store.load(key)
    assert conversation is not None
    assert (conversation.agent_id, conversation.agent_name) == ("legacy:Sato", "Sato")
    # A name proves nothing: even the token called Sato must take it over, explicitly.
    reply = {"text": "hello", "client_id": "x-1"}
    refused = await http.post(path(customer, "reply"), json=reply, headers=SATO_TOKEN)
    assert refused.status_code == 409 and refused.json()["agent_id"] == "legacy:Sato"
    assert (await http.post(path(customer, "takeover"), headers=SATO_TOKEN)).is_success
    assert (await http.post(path(customer, "reply"), json=reply, headers=SATO_TOKEN)).is_success

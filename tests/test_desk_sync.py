"""The agents' views stay in sync whichever desk acted.

A claim, release or close made in the web console, and the customer's survey answer,
update the Slack escalation message (`chat.update` on its stored ts) and are noted in its
thread; what is done in Slack shows in the console's API (which the console polls).
Real Redis, the real app over HTTP, the real slack_sdk against the fake Slack platform.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.settings import Settings
from channels.slack.blocks import CLAIM, CLOSE, RELEASE, TAKEOVER
from tests.eventually import eventually, settled
from tests.fakes.slack_platform import (
    DESK,
    FakeSlack,
    SlackTestApp,
    escalated_web_customer,
    serve_with_slack,
    started_slack,
)
from tests.webclient import WebCustomer

SATO_TOKEN = {"Authorization": "Bearer tok-sato"}
SLACK_SUZUKI = "U0SUZUKI"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with started_slack((SLACK_SUZUKI, "Suzuki")) as slack:
        yield slack


@pytest.fixture
async def served(
    make_settings: Callable[..., Settings], fake: FakeSlack
) -> AsyncIterator[SlackTestApp]:
    settings = make_settings(admin_token="admin-secret", agent_tokens={"Sato": "tok-sato"})
    async with serve_with_slack(settings, fake, DESK) as running:
        yield running


@pytest.fixture
async def http(served: SlackTestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        yield client


async def escalate(http: httpx.AsyncClient, fake: FakeSlack) -> tuple[WebCustomer, str]:
    """A web customer asks for a person; returns them and the escalation's ts."""
    customer, escalation = await escalated_web_customer(http, fake)
    return customer, str(escalation.result["ts"])


def console(customer: WebCustomer, action: str = "") -> str:
    url = f"/agent/api/conversations/web%3A{customer.user_id}"
    return f"{url}/{action}" if action else url


def message(fake: FakeSlack, ts: str) -> str:
    """The escalation message as it reads now."""
    return json.dumps(fake.current_blocks(DESK, ts) or [], ensure_ascii=False)


def buttons(fake: FakeSlack, ts: str) -> list[str]:
    return [
        element["action_id"]
        for block in fake.current_blocks(DESK, ts) or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def thread_notes(fake: FakeSlack, ts: str, words: str) -> list[str]:
    return [
        str(p.args.get("text")) for p in fake.posts(DESK, thread_ts=ts) if words in p.args["text"]
    ]


async def test_console_actions_and_the_survey_score_update_the_slack_escalation(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, ts = await escalate(http, fake)

    assert (await http.post(console(customer, "claim"), headers=SATO_TOKEN)).is_success
    await fake.wait_for(lambda: "Claimed by Sato" in message(fake, ts), what="claimed")
    assert buttons(fake, ts) == [RELEASE, CLOSE, TAKEOVER]
    await fake.wait_for(
        lambda: thread_notes(fake, ts, "claimed the conversation in the web console"),
        what="the claim noted in the thread",
    )

    assert (await http.post(console(customer, "release"), headers=SATO_TOKEN)).is_success
    await fake.wait_for(lambda: buttons(fake, ts) == [CLAIM], what="released")
    await fake.wait_for(
        lambda: thread_notes(fake, ts, "released the conversation in the web console"),
        what="the release noted",
    )

    assert (await http.post(console(customer, "claim"), headers=SATO_TOKEN)).is_success
    await fake.wait_for(
        lambda: len(thread_notes(fake, ts, "claimed the conversation")) == 2,
        what="the second claim noted",
    )
    assert (await http.post(console(customer, "close"), headers=SATO_TOKEN)).is_success
    await fake.wait_for(lambda: "Closed by Sato" in message(fake, ts), what="closed")
    assert buttons(fake, ts) == []
    await customer.next_from("bot", kind="survey")
    await customer.say("6")
    await fake.wait_for(lambda: "CES 6/7" in message(fake, ts), what="the score shown")
    assert "Closed by Sato" in message(fake, ts)
    await fake.wait_for(
        lambda: thread_notes(fake, ts, "answered the survey: CES 6/7"), what="the score noted"
    )

    await settled(served.runtime.inbox)
    updates = fake.calls_to("chat.update")
    assert updates and all((u.args["channel"], u.args["ts"]) == (DESK, ts) for u in updates)
    assert len(thread_notes(fake, ts, "closed the conversation in the web console")) == 1
    assert len(thread_notes(fake, ts, "answered the survey")) == 1, "noted once"


async def test_slack_actions_show_in_the_console_and_are_noted_once(
    served: SlackTestApp, http: httpx.AsyncClient, fake: FakeSlack
) -> None:
    customer, ts = await escalate(http, fake)
    escalation = next(p for p in fake.posts(DESK) if p.result["ts"] == ts)

    assert (await fake.click(SLACK_SUZUKI, escalation, CLAIM)).status_code == 200

    async def held_by_suzuki() -> bool:
        view = (await http.get(console(customer), headers=SATO_TOKEN)).json()
        return bool(view["state"] == "with_agent" and view["agent_id"] == f"slack:{SLACK_SUZUKI}")

    await eventually(held_by_suzuki, what="the console shows Suzuki's claim from Slack")
    queue = (await http.get("/agent/api/queue", headers=SATO_TOKEN)).json()
    assert [c["agent_id"] for c in queue["with_agents"]] == [f"slack:{SLACK_SUZUKI}"]

    assert (await fake.click(SLACK_SUZUKI, escalation, RELEASE)).status_code == 200

    async def waiting_again() -> bool:
        view = (await http.get(console(customer), headers=SATO_TOKEN)).json()
        return bool(view["state"] == "queued" and view["position"] == 1)

    await eventually(waiting_again, what="the console shows the release from Slack")
    await settled(served.runtime.inbox)
    assert len(thread_notes(fake, ts, "claimed the conversation")) == 1, "noted once"
    assert thread_notes(fake, ts, "in the web console") == [], "it was done in Slack"

"""One customer across LINE and the web widget, end to end through the fake platforms.

A customer asks on LINE, links the web widget with the code LINE gave them, continues on
the web and is handed to an agent: one queued customer, whose LINE and web lines the
console and the Slack escalation show marked by channel; the agent's reply goes to the
web, where the customer last wrote; the lead finds the conversation in /admin by a word.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner, Result

from bot.reports.conversation_commands import conversations
from bot.settings import Settings
from tests.conftest import REDIS_URL
from tests.eventually import settled
from tests.fakes.line_platform import LineWorld
from tests.fakes.slack_platform import (
    FakeSlack,
    escalations,
    line_world_with_slack,
    started_slack,
)
from tests.webclient import WebCustomer

DESK = "C0DESK"
ADMIN = "admin-secret"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_SATO = {**AS_ADMIN, "X-Agent-Name": "Sato"}
LABELS = {"line": {"ja": "LINE", "en": "LINE"}, "web": {"ja": "Web", "en": "Web"}}
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with started_slack() as fake:
        yield fake


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], slack: FakeSlack
) -> AsyncIterator[LineWorld]:
    async with line_world_with_slack(make_settings(admin_token=ADMIN), slack) as running:
        yield running


async def line_code(world: LineWorld, user: str) -> str:
    """Ask for a link code on LINE and read it from the bot's reply."""
    await world.platform.say(user, "連携コード")
    reply = await world.platform.wait_for_text(user, "連携コード:")
    found = re.search(r"\b(\d{6})\b", reply["text"])
    assert found, reply
    return found.group(1)


async def asked_on_line_linked_on_the_web(
    world: LineWorld, http: httpx.AsyncClient
) -> tuple[str, WebCustomer, str]:
    """A LINE user, Hanako, asks about shipping and then for a link code; a new web
    customer (greeted) types it and is linked. Returns the LINE user, the web customer and
    the code."""
    line = world.platform
    user = world.new_user("Hanako")
    await line.say(user, "送料はいくらですか？")
    await line.wait_for_text(user, "550")
    code = await line_code(world, user)
    web = await WebCustomer.start(http)
    await web.next_from("bot")  # the greeting
    linked = await http.post("/web/link", json={"code": code}, headers=web.auth)
    assert linked.status_code == 200, linked.text
    assert linked.json() == {"linked": True, "channels": ["line", "web"], "labels": LABELS}
    return user, web, code


async def test_asked_on_line_continued_on_the_web_one_story_for_agent_and_lead(
    world: LineWorld, slack: FakeSlack
) -> None:
    rt, line = world.app.runtime, world.platform
    async with httpx.AsyncClient(base_url=world.app.base_url, timeout=30) as http:
        user, web, code = await asked_on_line_linked_on_the_web(world, http)
        line_key = f"line:{user}"
        again = await http.post("/web/link", json={"code": code}, headers=web.auth)
        assert again.status_code == 400, "a code works once"

        await web.say("人と話したい")
        queued = await web.next_from("bot")
        assert "担当者におつなぎします" in queued["text"]
        assert await rt.queue.waiting(10) == [line_key], "one queued customer, not two"

        # The console: the LINE lines and the web line, each marked, under one customer.
        url = f"/agent/api/conversations/{quote(line_key, safe='')}"
        view = (await http.get(url, headers=AS_ADMIN)).json()
        said = [(e["channel"], e["text"]) for e in view["transcript"] if e["sender"] == "customer"]
        assert said == [
            ("line", "送料はいくらですか？"),
            ("line", "連携コード"),
            ("web", "人と話したい"),
        ]
        assert view["channel"] == "web", "the channel the customer last wrote on"
        assert view["identities"] == {"line": line_key, "web": f"web:{web.user_id}"}
        assert not any(code in e["text"] for e in view["transcript"]), "no code for agents"

        # Slack: the escalation shows the LINE messages, marked.
        escalation = (await escalations(slack, DESK))[0]
        shown = json.dumps(escalation.args["blocks"], ensure_ascii=False)
        assert "Customer (Hanako) · LINE:* 送料はいくらですか？" in shown
        assert "· Web:* 人と話したい" in shown

        # The agent's reply reaches the web, where the customer last wrote.
        claimed = await http.post(f"{url}/claim", headers=AS_SATO)
        assert claimed.status_code == 200, claimed.text
        sent = await http.post(
            f"{url}/reply",
            json={"text": "ご注文番号を教えてください", "client_id": "r1"},
            headers=AS_SATO,
        )
        assert sent.status_code == 200, sent.text
        assert (await web.next_from("agent"))["text"] == "ご注文番号を教えてください"

        # The agent may choose another linked channel: this one goes to LINE.
        on_line = await http.post(
            f"{url}/reply",
            json={"text": "LINEにも送ります", "client_id": "r2", "channel": "line"},
            headers=AS_SATO,
        )
        assert on_line.status_code == 200, on_line.text
        await line.wait_for_text(user, "LINEにも送ります")
        view = (await http.get(url, headers=AS_ADMIN)).json()
        agent_lines = [
            (e["channel"], e["text"]) for e in view["transcript"] if e["sender"] == "agent"
        ]
        assert agent_lines == [(None, "ご注文番号を教えてください"), ("line", "LINEにも送ります")]
        nowhere = await http.post(
            f"{url}/reply",
            json={"text": "Slackへ", "client_id": "r3", "channel": "slack"},
            headers=AS_SATO,
        )
        assert nowhere.status_code == 400, "not linked on Slack"
        assert "no linked identity" in nowhere.json()["detail"]

        # The lead finds it in /admin by a word said on LINE, and exports it.
        found = await http.get(
            "/admin/api/conversations", params={"text": "送料"}, headers=AS_ADMIN
        )
        assert found.status_code == 200, found.text
        [item] = found.json()["conversations"]
        assert item["customer_key"] == line_key
        assert item["channels"] == ["line", "web"]
        assert item["handed_off"] is True
        assert (
            await http.get("/admin/api/conversations", params={"text": "送料"})
        ).status_code == 401, "admin token only"
        by_channel = await http.get(
            "/admin/api/conversations",
            params={"channel": "web", "outcome": "bot_only"},
            headers=AS_ADMIN,
        )
        assert by_channel.json()["conversations"] == [], "it was handed off"
        exported = await http.get(
            f"/admin/api/conversations/{item['conversation_id']}.csv", headers=AS_ADMIN
        )
        rows = list(csv.DictReader(io.StringIO(exported.text.removeprefix("\ufeff"))))
        assert ("line", "送料はいくらですか？") in [(r["channel"], r["text"]) for r in rows]
        # Reading and downloading customers' words is on the record (`tsunagu audit`).
        audited = [(e.action, e.customer_key) async for e in rt.audit.read()]
        assert ("view", line_key) in audited and ("export", line_key) in audited
        # The same search for scripts: tsunagu conversations search / show.
        env = {"REDIS_URL": REDIS_URL, "KEY_PREFIX": rt.keys.prefix, "TZ": "Asia/Tokyo"}

        async def tsunagu(*args: str) -> Result:
            # The command runs its own event loop: give it a thread of its own.
            return await asyncio.to_thread(CliRunner().invoke, conversations, list(args), env=env)

        as_json = await tsunagu("search", "--text", "送料", "--format", "json")
        assert as_json.exit_code == 0, as_json.output
        [listed] = json.loads(as_json.stdout)["conversations"]
        assert listed["conversation_id"] == item["conversation_id"]
        assert listed["channels"] == ["line", "web"]
        as_csv = await tsunagu("search", "--text", "送料", "--channel", "line", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.stdout.removeprefix("\ufeff"))))
        assert ("line", "送料はいくらですか？") in [(r["channel"], r["text"]) for r in rows]
        none = await tsunagu("search", "--text", "送料", "--outcome", "bot_only")
        assert none.exit_code == 0 and none.stdout == ""
        shown = await tsunagu("show", item["conversation_id"])
        assert "Hanako [line]: 送料はいくらですか？" in shown.stdout, shown.output
        print("\n$ tsunagu conversations show " + item["conversation_id"] + "\n" + shown.stdout)
        print("--- Slack ---\n" + slack.transcript())
        print("--- /admin/api/conversations?text=送料 ---")
        print(json.dumps(item["channels"]), item["state"], len(item["transcript"]), "lines")


async def test_a_code_shown_on_the_web_links_when_typed_on_line_and_unlinks(
    world: LineWorld,
) -> None:
    line = world.platform
    user = world.new_user("Taro")
    async with httpx.AsyncClient(base_url=world.app.base_url, timeout=30) as http:
        web = await WebCustomer.start(http)
        await web.say("返品したい")
        await web.next_from("bot")
        issued = await http.post("/web/link-code", headers=web.auth)
        assert issued.status_code == 200 and issued.json()["expires_in"] == 600
        await line.say(user, issued.json()["code"])
        await line.wait_for_text(user, "連携しました")
        status = await http.get("/web/link", headers=web.auth)
        assert status.json() == {"linked": True, "channels": ["line", "web"], "labels": LABELS}
        # The web conversation (the customer wrote there) is the one that continues.
        assert await world.app.runtime.linking.identities.resolve(f"line:{user}") == (
            f"web:{web.user_id}"
        )
        await line.say(user, "連携解除")
        await line.wait_for_text(user, "連携を解除しました")
        status = await http.get("/web/link", headers=web.auth)
        assert status.json() == {
            "linked": False,
            "channels": ["web"],
            "labels": {"web": LABELS["web"]},
        }


async def test_six_digits_alone_on_line_are_an_order_number_unless_a_code_is_live(
    world: LineWorld,
) -> None:
    line = world.platform
    user = world.new_user("Jiro")
    await line.say(user, "123456")
    await line.wait_for_messages(user, 1)
    await settled(world.app.runtime.inbox)
    said = [m.get("text", "") for m in line.messages_to(user)]
    assert not any("無効か期限切れ" in text for text in said), "an order number is no code"
    assert not await world.app.runtime.redis.exists(
        world.app.runtime.keys.link_tries(f"line:{user}")
    ), "not counted as a wrong try"
    await line.say(user, "連携 123456")
    await line.wait_for_text(user, "このコードは無効か期限切れです")


async def test_a_code_typed_with_full_width_digits_and_a_space_links(world: LineWorld) -> None:
    user = world.new_user("Saburo")
    code = await line_code(world, user)
    typed = code[:3].translate(FULL_WIDTH) + " " + code[3:].translate(FULL_WIDTH)
    async with httpx.AsyncClient(base_url=world.app.base_url, timeout=30) as http:
        web = await WebCustomer.start(http)
        linked = await http.post("/web/link", json={"code": typed}, headers=web.auth)
        assert linked.status_code == 200, linked.text
        assert linked.json() == {"linked": True, "channels": ["line", "web"], "labels": LABELS}


async def test_admin_and_the_command_line_show_personal_data_masked_and_audited(
    world: LineWorld,
) -> None:
    rt, line = world.app.runtime, world.platform
    user = world.new_user("Shiro")
    await line.say(user, "電話番号は090-1234-5678です。メールは shiro@example.com")
    await line.wait_for_messages(user, 1)
    await settled(rt.inbox)
    async with httpx.AsyncClient(base_url=world.app.base_url, timeout=30) as http:
        found = await http.get(
            "/admin/api/conversations", params={"text": "電話番号"}, headers=AS_ADMIN
        )
        [item] = found.json()["conversations"]
        said = item["transcript"][0]["text"]
        assert said == "電話番号は•••-••••-5678です。メールは s•••@•••.com", said
        by_number = await http.get(
            "/admin/api/conversations", params={"text": "1234"}, headers=AS_ADMIN
        )
        assert by_number.json()["conversations"] == [], "what is masked is not searched"
        exported = await http.get(
            f"/admin/api/conversations/{item['conversation_id']}.csv", headers=AS_ADMIN
        )
        assert "•••-••••-5678" in exported.text and "1234" not in exported.text

    env = {"REDIS_URL": REDIS_URL, "KEY_PREFIX": rt.keys.prefix}
    shown = await asyncio.to_thread(
        CliRunner().invoke,
        conversations,
        ["show", item["conversation_id"], "--format", "json", "--by", "lead"],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    assert "1234" not in shown.stdout and "•••-••••-5678" in shown.stdout
    entries = [(e.actor_id, e.action) async for e in rt.audit.read()]
    assert ("admin:lead", "export") in entries, entries


async def test_wrong_codes_on_the_web_are_refused_then_locked(world: LineWorld) -> None:
    async with httpx.AsyncClient(base_url=world.app.base_url, timeout=30) as http:
        web = await WebCustomer.start(http)
        statuses = [
            (await http.post("/web/link", json={"code": "000000"}, headers=web.auth)).status_code
            for _ in range(6)
        ]
        assert statuses == [400, 400, 400, 400, 429, 429]
        unauthenticated = await http.post("/web/link", json={"code": "000000"})
        assert unauthenticated.status_code == 401
        malformed = await http.post("/web/link", json={"code": 12}, headers=web.auth)
        assert malformed.status_code == 400, "a clear error, as for every malformed body"

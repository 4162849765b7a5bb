"""A LINE customer handed to an agent in Slack, end to end, through both fake platforms.

The real app runs with both channels switched on from the environment, exactly as in
production: the real line-bot-sdk client talks to the fake LINE, the real slack_sdk client
to the fake Slack.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.conversation import ConversationState
from bot.records import ConversationRecord, SurveyResponse
from bot.settings import Settings
from channels.slack.blocks import CLAIM, CLOSE
from tests.fakes.line_platform import LineWorld
from tests.fakes.slack_platform import (
    FakeSlack,
    escalations,
    line_world_with_slack,
    started_slack,
)

DESK = "C0DESK"
SATO = "U0SATO"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with started_slack((SATO, "Sato", "Sato Hanako")) as fake:
        yield fake


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, slack: FakeSlack
) -> AsyncIterator[LineWorld]:
    async with line_world_with_slack(make_settings(), slack) as running:
        assert "slack" in running.app.runtime.channels, "Slack is on from the settings"
        yield running


def buttons(blocks: list[dict[str, Any]] | None) -> list[str]:
    return [
        element["action_id"]
        for block in blocks or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def test_line_customer_through_slack_claim_thread_replies_and_close(
    world: LineWorld, slack: FakeSlack
) -> None:
    rt, line = world.app.runtime, world.platform
    user = world.new_user("Hanako")
    key = f"line:{user}"

    await line.say(user, "送料はいくらですか？")
    await line.wait_for_text(user, "550")
    await line.say(user, "人と話したい")
    await line.wait_for_text(user, "担当者におつなぎします")

    escalation = (await escalations(slack))[0]
    shown = json.dumps(escalation.args["blocks"], ensure_ascii=False)
    assert "LINE" in shown and "Hanako" in shown
    assert "送料はいくらですか？" in shown, "the transcript so far"
    assert buttons(escalation.args["blocks"]) == [CLAIM]

    await slack.click(SATO, escalation, CLAIM)
    await line.wait_for_text(user, "担当のSatoがご対応します")
    thread = escalation.result["ts"]
    await slack.user_says(
        SATO, "佐藤です。ご注文番号を教えていただけますか？", DESK, thread_ts=thread
    )
    await line.wait_for_text(user, "佐藤です。ご注文番号を教えていただけますか？")
    pushes = [s for s in line.sent if s.kind == "push"]
    assert pushes and all(s.retry_key for s in pushes), "agent messages go by push"

    await line.say(user, "1234 です")
    await slack.wait_for(
        lambda: [p for p in slack.posts(DESK, thread) if "1234 です" in p.args.get("text", "")],
        what="the customer's message in the thread",
    )

    await slack.click(SATO, escalation, CLOSE)
    survey = await line.wait_for_text(user, "簡単に解決できた")
    items = survey["quickReply"]["items"]
    assert [i["action"]["label"][0] for i in items] == list("1234567")
    await line.tap(user, items[5])
    await line.wait_for_text(user, "ありがとうございました")

    conversation = await rt.store.load(key)
    assert conversation is not None and conversation.state is ConversationState.CLOSED
    [response] = [r async for r in rt.records.read(SurveyResponse)]
    assert (response.score, response.resolved_by, response.channel) == (6, "Sato", "line")
    [record] = [r async for r in rt.records.read(ConversationRecord)]
    assert (record.resolution, record.agent) == ("agent", "Sato")
    print("\n--- Slack ---\n" + slack.transcript())
    print("--- LINE ---")
    for sent in line.sent:
        for message in sent.messages:
            print(f"[{sent.kind}] {message.get('text', message.get('type'))}")


async def test_the_first_escalation_shows_the_name_of_a_customer_the_bot_answered_before(
    world: LineWorld, slack: FakeSlack
) -> None:
    # Answering costs no profile look-up (the customer's words tell the language); the
    # name is looked up when agents are first told, so their first post shows it.
    rt, line = world.app.runtime, world.platform
    user, other = world.new_user("Hanako"), world.new_user("Taro")
    await line.say(other, "送料はいくらですか？")
    await line.say(user, "送料はいくらですか？")
    await line.wait_for_text(user, "550")
    await line.wait_for_text(other, "550")
    assert line.profile_requests == []

    await line.say(user, "人と話したい")
    await line.wait_for_text(user, "担当者におつなぎします")
    escalation = (await escalations(slack))[0]
    assert escalation.args["text"] == "New escalation: Hanako"
    assert "Hanako" in json.dumps(escalation.args["blocks"], ensure_ascii=False)
    conversation = await rt.store.load(f"line:{user}")
    assert conversation is not None and conversation.display_name == "Hanako"
    transcript = await rt.store.transcript(f"line:{user}")
    asked = next(t for t in transcript if t.text == "人と話したい")
    assert asked.sender == "customer" and asked.sender_name == "Hanako"

    await line.say(user, "注文番号は1234です")
    await slack.wait_for(
        lambda: [p for p in slack.posts(DESK) if "1234" in p.args.get("text", "")],
        what="the customer's message in the thread",
    )
    assert line.profile_requests == [user], "looked up once, then cached"


async def test_a_profile_line_is_slow_to_give_holds_no_escalation_up(
    world: LineWorld, slack: FakeSlack
) -> None:
    # LINE_PROFILE_TIMEOUT_SECONDS bounds the wait: the agents are told without the name.
    line = world.platform
    line.slow("profile", 5.0)
    user = world.new_user("Hanako")
    await line.say(user, "人と話したい")
    await line.wait_for_text(user, "担当者におつなぎします")
    escalation = (await escalations(slack))[0]
    assert escalation.args["text"] == f"New escalation: line:{user}"

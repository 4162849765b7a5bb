"""A platform outage delays only that platform's sends (docs/reliability.md).

The real app, a real Redis, the fake LINE and Slack platforms over HTTP: Slack answers 503
(or refuses connections) while customers write on Slack, LINE and the web widget.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from bot import metrics
from bot.composition.runtime import Runtime
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter
from bot.model import Outgoing, Reply
from bot.settings import Settings
from tests.eventually import eventually
from tests.fakes.line_platform import LineWorld, line_world
from tests.fakes.slack_platform import FakeSlack, slack_on
from tests.webclient import WebCustomer

pytestmark = pytest.mark.faults

DESK = "C0DESK"
TANAKA, TANAKA_DM = "U0TANAKA", "D0TANAKA"


def faq(world: LineWorld, entry_id: str) -> tuple[str, str]:
    """(question, the start of its Japanese answer) of one FAQ entry."""
    entry = world.app.runtime.faq.entry(entry_id)
    assert entry is not None, entry_id
    return entry.question, entry.answer_for("ja")[:24]


async def inbox_settled(rt: Runtime) -> bool:
    """Every event put in the inbox was handled and acknowledged."""
    for partition in range(rt.inbox.partitions):
        if await rt.redis.xlen(rt.keys.inbox(partition)):
            return False
    return True


def answers_in(slack: FakeSlack, channel: str, starts: list[str]) -> list[str]:
    """Which of the answers (by their start) Slack shows in `channel`, in posting order."""
    return [
        start
        for post in slack.posts(channel)
        for start in starts
        if post.args.get("text", "").startswith(start)
    ]


async def test_a_slack_outage_delays_only_slack_sends(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = FakeSlack("slack-signing-secret")
    await slack.start()
    slack.add_user(TANAKA, "Tanaka")
    try:
        async with line_world(
            make_settings(ask_if_solved=False, channels=slack_on(slack))
        ) as world:
            slack.app_url = world.app.base_url
            rt = world.app.runtime
            fee, cancel, returns = (
                faq(world, entry) for entry in ("shipping-fee", "cancel-order", "return-policy")
            )

            # Before the outage: an ordinary answer on Slack.
            assert (await slack.user_says(TANAKA, fee[0], TANAKA_DM)).status_code == 200
            await slack.wait_for(lambda: answers_in(slack, TANAKA_DM, [fee[1]]), what="answer")

            delivered = (
                "tsunagu_outbound_retries_total",
                {"lane": "slack", "outcome": "delivered"},
            )
            delivered_before = metrics.REGISTRY.get_sample_value(*delivered) or 0.0
            slack.outage_status = 503
            for question, _ in (cancel, returns):
                assert (await slack.user_says(TANAKA, question, TANAKA_DM)).status_code == 200

            # Meanwhile LINE and web customers are answered as usual.
            line_customer = world.new_user()
            assert await world.platform.say(line_customer, cancel[0]) == 200
            await world.platform.wait_for_text(line_customer, cancel[1])
            async with httpx.AsyncClient(base_url=world.app.base_url) as http:
                web_customer = await WebCustomer.start(http)
                assert (await web_customer.say(returns[0])).status_code == 202
                answer = await web_customer.next_from("bot", kind="answer")
                assert answer["text"].startswith(returns[1])

                # The Slack customer's events were handled and acknowledged; their replies
                # wait in line, in order, for Slack.
                line_key = rt.keys.outbound_order(f"slack:{TANAKA}", "slack")

                async def both_parked() -> bool:
                    return await inbox_settled(rt) and await rt.redis.llen(line_key) == 2

                await eventually(both_parked, what="the Slack replies parked")
                exposed = (await http.get("/metrics")).text
            assert slack.refused, "the replies were tried on Slack"
            assert 'tsunagu_outbound_pending{lane="slack"} 1.0' in exposed
            assert 'tsunagu_outbound_parked_total{lane="slack"}' in exposed
            assert 'tsunagu_outbound_pending{lane="line"} 0.0' in exposed

            # Slack is back: the retry sweeper delivers them, once each, in order.
            slack.outage_status = None
            await slack.wait_for(
                lambda: len(answers_in(slack, TANAKA_DM, [cancel[1], returns[1]])) >= 2,
                what="the parked answers",
                timeout=30,
            )

            async def nothing_waits() -> bool:
                return not await rt.outbound.waiting(f"slack:{TANAKA}", "slack")

            await eventually(nothing_waits, what="the line emptied")
            assert metrics.REGISTRY.get_sample_value(*delivered) == delivered_before + 2
            assert await rt.redis.xlen(rt.keys.inbox_dead()) == 0
            assert await rt.redis.xlen(rt.keys.outbound_failed()) == 0
    finally:
        await slack.stop()
    assert answers_in(slack, TANAKA_DM, [fee[1], cancel[1], returns[1]]) == [
        fee[1],
        cancel[1],
        returns[1],
    ]


async def test_slack_failures_are_typed_by_what_they_mean(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused connections and 5xx: unavailable; 429: retry after Slack's time; an error
    that will not change (a channel that does not exist): permanent."""
    slack = FakeSlack("slack-signing-secret")
    await slack.start()
    slack.missing_channels.add("C0GONE")  # archived, say: Slack will never take it
    rt = Runtime(make_settings(channels=slack_on(slack)))
    try:
        sender = rt.channel("slack").sender

        def batch(user: str) -> list[Outgoing]:
            return [
                Outgoing(
                    message_id=f"m-{user}-{time.monotonic_ns()}",
                    channel="slack",
                    user_id=user,
                    conversation_id="c1",
                    reply=Reply(text="こんにちは"),
                )
            ]

        await slack.refuse_connections()
        with pytest.raises(PlatformUnavailable) as refused:
            await sender.send(batch(TANAKA))
        assert type(refused.value) is PlatformUnavailable
        await slack.accept_connections()

        slack.outage_status = 503
        with pytest.raises(PlatformUnavailable):
            await sender.send(batch(TANAKA))
        slack.outage_status = 429
        with pytest.raises(RetryAfter):
            await sender.send(batch(TANAKA))
        slack.outage_status = None

        with pytest.raises(PermanentFailure) as permanent:
            await sender.send(batch("C0GONE"))
        assert "channel_not_found" in permanent.value.reason
        await sender.send(batch(TANAKA))
        assert len(slack.posts()) == 1, "only the last one went out"
    finally:
        await rt.redis.aclose()
        await slack.stop()


async def test_an_escalation_during_a_slack_outage_reaches_the_desk_afterwards_in_order(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agents' desk is on Slack too: a LINE customer who asks for a person while Slack
    is down is told they are queued at once, and goes on writing; the escalation and what
    they wrote reach the desk when Slack is back, in that order, once each."""
    slack = FakeSlack("slack-signing-secret")
    await slack.start()
    try:
        async with line_world(make_settings(channels=slack_on(slack))) as world:
            slack.app_url = world.app.base_url
            rt, line = world.app.runtime, world.platform
            user = world.new_user("Hanako")
            slack.outage_status = 503
            assert await line.say(user, "人と話したい") == 200
            await line.wait_for_text(user, "担当者におつなぎします")
            assert await line.say(user, "注文番号は A-123 です") == 200

            desk_line = rt.keys.outbound_order(f"line:{user}", "desk:slack")

            async def both_parked() -> bool:
                return await inbox_settled(rt) and await rt.redis.llen(desk_line) == 2

            await eventually(both_parked, what="the escalation and the message parked")
            assert slack.refused and not slack.posts(DESK)

            slack.outage_status = None
            [escalation] = await slack.wait_for(
                lambda: [p for p in slack.posts(DESK) if "thread_ts" not in p.args],
                what="the escalation",
                timeout=30,
            )
            thread = escalation.result["ts"]
            await slack.wait_for(
                lambda: [p for p in slack.posts(DESK, thread) if "A-123" in str(p.args)],
                what="the customer's message in the thread",
                timeout=10,
            )
            assert await rt.redis.xlen(rt.keys.inbox_dead()) == 0
    finally:
        await slack.stop()
    assert len([p for p in slack.posts(DESK) if "thread_ts" not in p.args]) == 1
    assert len([p for p in slack.posts(DESK, thread) if "A-123" in str(p.args)]) == 1

"""LINE delivery: reply token or push, LINE's limits, retries, and users who blocked us."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from bot import metrics
from bot.actor import Actor
from bot.choice_data import unpack_choice
from bot.conversation import ConversationState
from bot.errors import PlatformUnavailable
from bot.model import Choice, Outgoing, Reply, ReplyKind
from bot.outbound import OutboundSweeper
from bot.settings import Settings
from tests.eventually import settled
from tests.fakes.line_platform import LineWorld, line_world


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    async with line_world(make_settings()) as running:
        yield running


@pytest.fixture
async def quiet_world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    """The app with no worker of its own: only the test drives the retry sweeper, with
    the clock it chooses."""
    settings = make_settings(run_worker=False, outbound_retry_seconds=600)
    async with line_world(settings) as running:
        yield running


def line_sweeper(world: LineWorld) -> OutboundSweeper:
    """The LINE channel's retry sweeper, driven by the test."""
    return next(s for s in world.app.runtime.delivery.sweepers() if s.lane == "line")


def sample(name: str, **labels: str) -> float:
    """The current value of one metric sample (0 when it was never touched)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def outgoing(user: str, reply: Reply, meta: dict[str, str] | None = None) -> Outgoing:
    return Outgoing(
        message_id=uuid.uuid4().hex,
        channel="line",
        user_id=user,
        conversation_id="c1",
        reply=reply,
        meta=meta or {},
    )


async def test_expired_reply_token_falls_back_to_push(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings(), reply_token_ttl_seconds=0.001) as world:
        user = world.new_user()
        await world.platform.say(user, "送料はいくらですか？")
        answer = (await world.platform.wait_for_messages(user, 1))[0]
        assert "550" in answer["text"]
        assert [s.kind for s in world.platform.sent] == ["push"]


async def test_reply_token_refused_by_line_falls_back_to_push(world: LineWorld) -> None:
    world.platform.reply_token_ttl = 0  # LINE says the token is no longer valid
    user = world.new_user()
    await world.platform.say(user, "送料はいくらですか？")
    await world.platform.wait_for_messages(user, 1)
    assert [s.kind for s in world.platform.sent] == ["push"]
    assert world.platform.rejected[0][:2] == ("reply", 400)


async def test_a_429_is_retried_not_before_its_retry_after_and_delivered_once(
    quiet_world: LineWorld,
) -> None:
    platform, rt = quiet_world.platform, quiet_world.app.runtime
    platform.fail("push", 429, times=1, retry_after=120)
    user = quiet_world.new_user()
    began = time.time()
    await quiet_world.channel_send(user, Reply(text="お待たせしました", kind=ReplyKind.AGENT))
    assert platform.sent == []
    assert await rt.outbound.waiting(f"line:{user}", "line"), "parked, not lost"

    sweeper = line_sweeper(quiet_world)
    assert await sweeper.sweep(now=began + 110) == 0, "LINE asked for 120 s"
    assert platform.sent == []
    assert await sweeper.sweep(now=began + 125) == 1
    assert [m["text"] for m in platform.messages_to(user)] == ["お待たせしました"]
    assert not await rt.outbound.waiting(f"line:{user}", "line")


async def test_5xx_is_retried_with_backoff_and_delivered_once_in_order(
    quiet_world: LineWorld,
) -> None:
    platform, rt = quiet_world.platform, quiet_world.app.runtime
    delivered_before = sample("tsunagu_outbound_retries_total", lane="line", outcome="delivered")
    failed_before = sample("tsunagu_outbound_retries_total", lane="line", outcome="failed")
    platform.fail("push", 503, times=2)
    user = quiet_world.new_user()
    began = time.time()
    await quiet_world.channel_send(user, Reply(text="一つ目", kind=ReplyKind.AGENT))
    # LINE is back for others, but this customer's later reply must not overtake.
    await quiet_world.channel_send(user, Reply(text="二つ目", kind=ReplyKind.AGENT))
    assert platform.sent == []

    sweeper = line_sweeper(quiet_world)
    await sweeper.sweep(now=began + 10)  # the second 503
    assert platform.sent == []
    await sweeper.sweep(now=began + 100)
    assert [m["text"] for m in platform.messages_to(user)] == ["一つ目", "二つ目"]
    assert all(s.kind == "push" and s.retry_key for s in platform.sent)
    assert await sweeper.sweep(now=began + 1000) == 0, "nothing left to retry"
    assert len(platform.sent) == 2
    assert await rt.outbound.pending("line") == 0
    assert (
        sample("tsunagu_outbound_retries_total", lane="line", outcome="delivered")
        == delivered_before + 2
    ), "both parked sends"
    assert (
        sample("tsunagu_outbound_retries_total", lane="line", outcome="failed") == failed_before + 1
    )


async def test_a_send_line_never_takes_is_given_up_after_the_retry_window_and_recorded(
    quiet_world: LineWorld,
) -> None:
    platform, rt = quiet_world.platform, quiet_world.app.runtime
    gave_up_before = sample("tsunagu_outbound_failed_total", lane="line", why="gave_up")
    platform.fail("push", 500, times=100)
    user = quiet_world.new_user()
    began = time.time()
    await quiet_world.channel_send(user, Reply(text="hello", kind=ReplyKind.AGENT))
    sweeper = line_sweeper(quiet_world)
    await sweeper.sweep(now=began + 300)  # still inside OUTBOUND_RETRY_SECONDS (600)
    assert await rt.outbound.waiting(f"line:{user}", "line")
    await sweeper.sweep(now=began + 601)
    assert not await rt.outbound.waiting(f"line:{user}", "line")
    assert await sweeper.sweep(now=began + 5000) == 0, "given up: never tried again"
    assert platform.sent == []
    [(_, record)] = await rt.redis.xrange(rt.keys.outbound_failed())
    assert record["customer"] == f"line:{user}"
    assert record["reason"].startswith("gave up after 3 attempts: HTTP 500")
    assert sample("tsunagu_outbound_failed_total", lane="line", why="gave_up") == (
        gave_up_before + 1
    )


async def test_a_resent_batch_is_never_delivered_twice(world: LineWorld) -> None:
    user = world.new_user()
    message = outgoing(user, Reply(text="一度だけ", kind=ReplyKind.AGENT))
    sender = world.app.channel.sender
    await sender.send([message])
    await sender.send([message])  # the process crashed before the event was acknowledged
    # Even with our own marker lost, LINE drops the push: same X-Line-Retry-Key.
    rt = world.app.runtime
    async for key in rt.redis.scan_iter(match=f"{rt.keys.prefix}:conv:*:sent:line:*"):
        await rt.redis.delete(key)
    await sender.send([message])
    assert [m["text"] for m in world.platform.messages_to(user)] == ["一度だけ"]


async def test_a_reply_token_is_used_only_once(world: LineWorld) -> None:
    user = world.new_user()
    event = world.platform.text(user, "x")
    meta = {
        "reply_token": event["replyToken"],
        "reply_token_at": str(event["timestamp"] / 1000),
        "to": user,
    }
    sender = world.app.channel.sender
    await sender.send([outgoing(user, Reply(text="first"), meta)])
    await sender.send([outgoing(user, Reply(text="second"), meta)])
    assert [(s.kind, s.messages[0]["text"]) for s in world.platform.sent] == [
        ("reply", "first"),
        ("push", "second"),
    ]
    assert world.platform.rejected == []


def token_meta(event: dict[str, object], user: str) -> dict[str, str]:
    """What a send answering `event` carries: its reply token and the token's time."""
    return {
        "reply_token": str(event["replyToken"]),
        "reply_token_at": str(int(str(event["timestamp"])) / 1000),
        "to": user,
    }


async def test_a_reply_whose_answer_was_lost_is_never_pushed_as_well(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # LINE takes the reply, and its answer is lost on the way: it went out, unbeknown to us.
    async with line_world(make_settings(run_worker=False)) as world:
        platform, sender = world.platform, world.app.channel.sender
        platform.lose_answers("reply")
        user = world.new_user()
        batch = [outgoing(user, Reply(text="一度だけ"), token_meta(platform.text(user, "x"), user))]
        with pytest.raises(PlatformUnavailable):
            await sender.send(batch)  # parked for a retry...
        said = [("reply", "一度だけ")]
        assert [(s.kind, s.messages[0]["text"]) for s in platform.sent] == said  # ...not pushed
        await sender.send(batch)  # the retry: the token, used again, says it went out
        assert [(s.kind, s.messages[0]["text"]) for s in platform.sent] == said
        assert [(endpoint, status) for endpoint, status, _ in platform.rejected] == [("reply", 400)]


async def test_a_reply_line_failed_with_a_5xx_is_retried_by_its_token_not_pushed(
    world: LineWorld,
) -> None:
    platform, sender = world.platform, world.app.channel.sender
    platform.fail("reply", 500, times=1)
    user = world.new_user()
    batch = [outgoing(user, Reply(text="一度だけ"), token_meta(platform.text(user, "x"), user))]
    with pytest.raises(PlatformUnavailable):
        await sender.send(batch)
    assert platform.sent == []
    await sender.send(batch)  # the retry: LINE had not taken it, so the token still works
    assert [(s.kind, s.messages[0]["text"]) for s in platform.sent] == [("reply", "一度だけ")]


async def forget_sent_markers(world: LineWorld) -> None:
    """What a crash between a send and its marker leaves: no marker."""
    rt = world.app.runtime
    async for key in rt.redis.scan_iter(match=f"{rt.keys.prefix}:conv:*:sent:line:*"):
        await rt.redis.delete(key)


async def test_a_replayed_agents_reply_uses_the_token_it_took_not_the_customers_newer_one(
    quiet_world: LineWorld,
) -> None:
    platform, sender = quiet_world.platform, quiet_world.app.channel.sender
    user = quiet_world.new_user()
    assert await platform.say(user, "まだですか") == 200  # the customer's latest token
    agents = [outgoing(user, Reply(text="担当の佐藤です", kind=ReplyKind.AGENT))]
    await sender.send(agents)  # by that token
    await forget_sent_markers(quiet_world)  # a crash before the marker
    assert await platform.say(user, "もしもし") == 200  # a newer token, unused
    await sender.send(agents)  # the replay
    assert [(s.kind, s.messages[0]["text"]) for s in platform.sent] == [("reply", "担当の佐藤です")]


async def test_a_replayed_agents_push_is_not_said_again_by_the_customers_newer_token(
    quiet_world: LineWorld,
) -> None:
    platform, sender = quiet_world.platform, quiet_world.app.channel.sender
    user = quiet_world.new_user()
    agents = [outgoing(user, Reply(text="担当の佐藤です", kind=ReplyKind.AGENT))]
    await sender.send(agents)  # no token of the customer's to use: pushed
    await forget_sent_markers(quiet_world)  # a crash before the marker
    assert await platform.say(user, "もしもし") == 200  # now there is one
    await sender.send(agents)  # the replay: pushed again, and LINE drops it (409)
    assert [(s.kind, s.messages[0]["text"]) for s in platform.sent] == [("push", "担当の佐藤です")]


async def test_blocked_user_is_logged_once_and_the_conversation_closed(
    world: LineWorld, caplog: pytest.LogCaptureFixture
) -> None:
    rt, platform = world.app.runtime, world.platform
    user = world.new_user()
    await platform.say(user, "担当者と話したい")
    await platform.wait_for_text(user, "担当者におつなぎします")
    assert (await rt.agents.claim(f"line:{user}", Actor.console("Sato"))).ok
    await platform.wait_for_text(user, "Sato")
    platform.block(user)
    assert (
        await rt.agents.reply(
            f"line:{user}", Actor.console("Sato"), "まだいらっしゃいますか？", action_id="a1"
        )
    ).ok
    # The blocked user's conversation is closed through the inbox.
    await settled(rt.inbox)
    conversation = await rt.store.load(f"line:{user}")
    assert conversation is not None and conversation.state is ConversationState.CLOSED
    await rt.agents.reply(f"line:{user}", Actor.console("Sato"), "もう一度", action_id="a2")
    await world.channel_send(user, Reply(text="and again", kind=ReplyKind.AGENT))
    await line_sweeper(world).sweep(now=time.time() + 3600)
    refused = [r for r in platform.rejected if r[0] == "push"]
    assert len(refused) == 1, "one attempt, then we stop sending"
    errors = [r for r in caplog.records if "never be delivered" in r.getMessage()]
    assert len(errors) == 1
    assert not await rt.outbound.waiting(f"line:{user}", "line"), "never parked for a retry"
    records = [fields for _, fields in await rt.redis.xrange(rt.keys.outbound_failed())]
    assert records[0]["reason"].startswith("400: "), "recorded with LINE's answer"
    assert {r["customer"] for r in records} == {f"line:{user}"}


async def test_long_answers_and_many_choices_fit_lines_limits(world: LineWorld) -> None:
    user = world.new_user()
    paragraph = "ご注文について詳しくご説明します。" * 100  # 1,700 characters
    text = "\n\n".join([paragraph] * 7)  # about 12,000 characters
    choices = [
        Choice(label=f"とても長い選択肢のラベルです、その{n}番目の項目", payload=f"faq:topic-{n}")
        for n in range(20)
    ]
    await world.channel_send(user, Reply(text=text, kind=ReplyKind.ANSWER, choices=choices))
    assert world.platform.rejected == [], world.platform.rejected
    messages = world.platform.messages_to(user)
    assert len(messages) == 4, "two paragraphs (3,402 characters) per message"
    assert all(len(m["text"]) <= 5000 for m in messages)
    assert "\n\n".join(m["text"] for m in messages) == text, "cut between paragraphs"
    items = messages[-1]["quickReply"]["items"]
    assert len(items) == 13
    first = items[0]["action"]
    assert len(first["label"]) <= 20 and first["label"].endswith("…")
    assert first["displayText"] == choices[0].label
    assert unpack_choice(first["data"]) == ("faq:topic-0", choices[0].label)


async def test_more_than_five_messages_reply_then_push(world: LineWorld) -> None:
    user = world.new_user()
    event = world.platform.text(user, "x")
    meta = {
        "reply_token": event["replyToken"],
        "reply_token_at": str(event["timestamp"] / 1000),
        "to": user,
    }
    batch = [outgoing(user, Reply(text=f"part {n}"), meta) for n in range(7)]
    await world.app.channel.sender.send(batch)
    assert [(s.kind, len(s.messages)) for s in world.platform.sent] == [("reply", 5), ("push", 2)]
    assert [m["text"] for m in world.platform.messages_to(user)] == [f"part {n}" for n in range(7)]


async def test_postback_data_round_trips_and_foreign_data_is_the_payload() -> None:
    from channels.line.render import postback_data

    data = postback_data(Choice(label="担当者と話す", payload="handoff"))
    assert json.loads(data) == {"p": "handoff", "t": "担当者と話す"}
    assert unpack_choice(data) == ("handoff", "担当者と話す")
    assert unpack_choice("rating:4") == ("rating:4", None)
    assert len(postback_data(Choice(label="あ" * 500, payload="faq:x"))) <= 300

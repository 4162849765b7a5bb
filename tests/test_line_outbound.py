"""LINE delivery: reply token or push, LINE's limits, retries, and users who blocked us."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from bot.conversation import ConversationState
from bot.model import Channel, Choice, Outgoing, Reply, ReplyKind
from bot.settings import Settings
from channels.line.render import read_postback
from channels.line.sender import LineUnavailable
from tests.fakes.line_platform import LineWorld, line_world


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    async with line_world(make_settings(), monkeypatch, send_retry_seconds=5) as running:
        yield running


def outgoing(user: str, reply: Reply, meta: dict[str, str] | None = None) -> Outgoing:
    return Outgoing(
        message_id=uuid.uuid4().hex,
        channel=Channel.LINE,
        user_id=user,
        conversation_id="c1",
        reply=reply,
        meta=meta or {},
    )


async def test_expired_reply_token_falls_back_to_push(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings(), monkeypatch, reply_token_ttl_seconds=0.001) as world:
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


async def test_push_is_retried_on_429_and_5xx_and_delivered_once(world: LineWorld) -> None:
    world.platform.fail("push", 429, times=1, retry_after=0.2)
    world.platform.fail("push", 503, times=2)
    user = world.new_user()
    await world.channel_send(user, Reply(text="お待たせしました", kind=ReplyKind.AGENT))
    assert [m["text"] for m in world.platform.messages_to(user)] == ["お待たせしました"]


async def test_push_gives_up_after_the_retry_window_so_the_inbox_retries(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings(), monkeypatch, send_retry_seconds=1) as world:
        world.platform.fail("push", 500, times=100)
        user = world.new_user()
        with pytest.raises(LineUnavailable):
            await world.channel_send(user, Reply(text="hello", kind=ReplyKind.AGENT))
        assert world.platform.sent == []


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


async def test_blocked_user_is_logged_once_and_the_conversation_closed(
    world: LineWorld, caplog: pytest.LogCaptureFixture
) -> None:
    rt, platform = world.app.runtime, world.platform
    user = world.new_user()
    await platform.say(user, "担当者と話したい")
    await platform.wait_for_text(user, "担当者におつなぎします")
    assert (await rt.agents.claim(f"line:{user}", "Sato")).ok
    await platform.wait_for_text(user, "Sato")
    platform.block(user)
    assert (await rt.agents.reply(f"line:{user}", "Sato", "まだいらっしゃいますか？", "a1")).ok
    for _ in range(60):
        conversation = await rt.store.load(f"line:{user}")
        if conversation is not None and conversation.state is ConversationState.CLOSED:
            break
        await asyncio.sleep(0.05)
    assert conversation is not None and conversation.state is ConversationState.CLOSED
    await rt.agents.reply(f"line:{user}", "Sato", "もう一度", "a2")
    await world.channel_send(user, Reply(text="and again", kind=ReplyKind.AGENT))
    refused = [r for r in platform.rejected if r[0] == "push"]
    assert len(refused) == 1, "one attempt, then we stop sending"
    errors = [r for r in caplog.records if "never be delivered" in r.getMessage()]
    assert len(errors) == 1


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
    assert read_postback(first["data"]) == ("faq:topic-0", choices[0].label)


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
    assert read_postback(data) == ("handoff", "担当者と話す")
    assert read_postback("rating:4") == ("rating:4", None)
    assert len(postback_data(Choice(label="あ" * 500, payload="faq:x"))) <= 300

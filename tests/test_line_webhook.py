"""The LINE webhook: signatures, LINE's Verify button, every event type, groups, speed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.settings import Settings
from tests.eventually import eventually, settled
from tests.fakes.line_platform import LineWorld, line_world, sign


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    async with line_world(make_settings()) as running:
        yield running


async def test_verify_button_gets_200_and_changes_nothing(world: LineWorld) -> None:
    assert await world.platform.verify() == 200
    assert await world.app.runtime.inbox.backlog() == 0


async def test_bad_or_missing_signature_is_refused_without_side_effect(world: LineWorld) -> None:
    platform = world.platform
    user = world.new_user()
    event = platform.text(user, "送料はいくらですか？")
    body = json.dumps(
        {"destination": platform.destination, "events": [event]}, ensure_ascii=False
    ).encode()
    wrong = sign("another-secret", body)
    assert await platform.post([event], body=body, signature=wrong) == 401
    assert await platform.post([event], body=body, signature="") == 401
    tampered = body.replace("送料".encode(), "返品".encode())
    assert tampered != body
    assert (
        await platform.post([event], body=tampered, signature=sign(platform.channel_secret, body))
        == 401
    )
    # Accepted events are in the inbox before LINE gets its 200: none went in.
    assert await world.app.runtime.inbox.backlog() == 0
    assert platform.sent == [] and platform.profile_requests == []
    assert await world.app.runtime.store.load(f"line:{user}") is None


async def test_malformed_body_gets_400(world: LineWorld) -> None:
    platform = world.platform
    for body in (b"{not json", b'{"destination": "x"}', b'{"events": {}}'):
        assert (
            await platform.post([], body=body, signature=sign(platform.channel_secret, body)) == 400
        )


def _every_event(world: LineWorld, user: str) -> list[dict[str, Any]]:
    p = world.platform
    group = {"type": "group", "groupId": "C" + "1" * 32, "userId": user}
    room = {"type": "room", "roomId": "R" + "2" * 32, "userId": user}
    return [
        p.text(user, "こんにちは"),
        p.message(
            user,
            {
                "type": "sticker",
                "packageId": "446",
                "stickerId": "1988",
                "stickerResourceType": "STATIC",
                "keywords": ["Happy"],
            },
        ),
        p.media(user, "image"),
        p.media(user, "video", duration=3000),
        p.media(user, "audio", duration=2000),
        p.media(user, "file", fileName="order.pdf", fileSize=2048),
        p.message(
            user,
            {
                "type": "location",
                "title": "Shop",
                "address": "Tokyo",
                "latitude": 35.6,
                "longitude": 139.7,
            },
        ),
        p.message(
            user,
            {
                "type": "image",
                "contentProvider": {
                    "type": "external",
                    "originalContentUrl": "https://example.com/a.jpg",
                },
            },
        ),
        p.event("follow", user, follow={"isUnblocked": False}),
        p.postback(user, "faq:shipping_fee"),
        p.postback(user, "rating:5"),
        p.postback(user, "dateselected", params={"date": "2026-01-01"}),
        p.event("unsend", user, reply=False, unsend={"messageId": "1"}),
        p.event("join", user, source=group),
        p.event("leave", user, reply=False, source={"type": "group", "groupId": "C" + "1" * 32}),
        p.event(
            "memberJoined",
            user,
            source=group,
            joined={"members": [{"type": "user", "userId": user}]},
        ),
        p.event(
            "memberLeft",
            user,
            reply=False,
            source=group,
            left={"members": [{"type": "user", "userId": user}]},
        ),
        p.text(user, "group chatter", source=group),
        p.text(user, "room chatter", source=room),
        p.event("beacon", user, beacon={"hwid": "d41d8cd98f", "type": "enter"}),
        p.event("accountLink", user, link={"result": "ok", "nonce": "x"}),
        p.event("videoPlayComplete", user, videoPlayComplete={"trackingId": "t"}),
        p.event("membership", user, membership={"type": "joined", "membershipId": 1}),
        p.event("somethingLineAddsNextYear", user, surprise={"nested": [1, 2]}),
        {"type": "message"},  # no source, no message: still not a 500
        p.event("unfollow", user, reply=False),
    ]


async def test_every_event_type_is_handled_or_ignored_never_a_500(world: LineWorld) -> None:
    user = world.new_user()
    events = _every_event(world, user)
    for event in events:
        assert await world.platform.post([event]) == 200, event["type"]
    assert await world.platform.post(_every_event(world, world.new_user())) == 200
    await settled(world.app.runtime.inbox)
    dead = await world.app.runtime.redis.xlen(world.app.runtime.keys.inbox_dead())
    assert dead == 0, "no event failed in the dispatcher either"
    assert world.platform.rejected == [], "LINE accepted everything we sent"
    group_targets = [s for s in world.platform.sent if not s.to.startswith("U")]
    assert group_targets == [], "groups are ignored by default"


async def test_mention_mode_answers_in_groups_only_when_mentioned(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings(), group_mode="mention") as world:
        p, user = world.platform, world.new_user()
        group_id = "C" + "3" * 32
        group = {"type": "group", "groupId": group_id, "userId": user}
        await p.post([p.text(user, "送料はいくらですか？", source=group)])
        await settled(world.app.runtime.inbox)
        assert p.sent == []
        mention = {"mentionees": [{"index": 0, "length": 8, "type": "user", "isSelf": True}]}
        await p.post(
            [
                p.message(
                    user,
                    {"type": "text", "text": "@Tsunagu 送料はいくらですか？", "mention": mention},
                    source=group,
                )
            ]
        )
        answer = (await p.wait_for_messages(group_id, 1))[0]
        assert "550" in answer["text"] and p.sent[0].kind == "reply"


async def test_webhook_does_not_wait_for_a_slow_profile(world: LineWorld) -> None:
    # The profile takes ten times PROFILE_TIMEOUT_SECONDS: the webhook answers without it
    # (how fast it answers is measured by bench/webhook_load.py, not here).
    world.platform.slow("profile", 5.0)
    user = world.new_user()
    assert await world.platform.say(user, "送料はいくらですか？") == 200
    answer = (await world.platform.wait_for_messages(user, 1, timeout=30))[0]
    assert "550" in answer["text"]
    line = world.app.channel
    assert line is not None
    assert await line.profiles.cached(user) is None, "answered before the profile came"


async def test_loading_animation_shows_while_the_answer_takes_time(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One word tells no language, so the worker waits for the profile (LINE answers it
    # late) before it can answer: the customer sees the animation meanwhile, then the answer.
    async with line_world(make_settings(), loading_after_seconds=0.2) as world:
        world.platform.slow("profile", 5.0)
        user = world.new_user()
        assert await world.platform.say(user, "shipping") == 200
        await eventually(lambda: world.platform.loading, what="the loading animation")
        assert [(c["chatId"], c["loadingSeconds"]) for c in world.platform.loading] == [(user, 20)]
        assert await world.platform.wait_for_messages(user, 1, timeout=30)


async def test_no_loading_animation_for_an_instant_answer(world: LineWorld) -> None:
    user = world.new_user()
    await world.platform.say(user, "送料はいくらですか？")
    await world.platform.wait_for_messages(user, 1)
    # Once the event is settled, its animation can no longer be shown.
    await settled(world.app.runtime.inbox)
    assert world.platform.loading == []

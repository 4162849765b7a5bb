"""LINE conversations end to end: the fake platform posts signed webhooks to the real app,
and records what the real line-bot-sdk client sends back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.actor import Actor
from bot.conversation import ConversationState
from bot.faq import Outcome
from bot.settings import Settings
from tests.eventually import settled
from tests.fakes.line_platform import LineWorld, line_world

VAGUE = ["支払い", "注文について", "配送", "アカウント", "商品について", "order", "payment"]


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    async with line_world(make_settings()) as running:
        yield running


async def test_follow_greets_with_the_top_faq_topics_as_quick_replies(world: LineWorld) -> None:
    user = world.new_user("Hanako", "ja")
    assert await world.platform.post([world.platform.event("follow", user)]) == 200
    greeting = (await world.platform.wait_for_messages(user, 1))[0]
    assert world.platform.sent[0].kind == "reply", "a reply token answers for free"
    assert "こんにちは" in greeting["text"]
    items = greeting["quickReply"]["items"]
    assert items and all(i["action"]["type"] == "postback" for i in items)
    assert all('"p":"faq:' in i["action"]["data"] for i in items)


async def test_profile_language_picks_the_language_of_the_bots_texts(world: LineWorld) -> None:
    user = world.new_user("Emma", "en")
    await world.platform.post([world.platform.event("follow", user)])
    greeting = (await world.platform.wait_for_messages(user, 1))[0]
    assert greeting["text"].startswith("Hello!")
    assert user in world.platform.profile_requests
    conversation = await world.app.runtime.store.load(f"line:{user}")
    assert conversation is not None and conversation.display_name == "Emma"


async def test_text_gets_the_faq_answer_by_reply_token(world: LineWorld) -> None:
    user = world.new_user()
    assert await world.platform.say(user, "送料はいくらですか？") == 200
    answer = (await world.platform.wait_for_messages(user, 1))[0]
    assert "550" in answer["text"]
    assert {s.kind for s in world.platform.sent} == {"reply"}


async def test_unsure_question_offers_quick_replies_and_a_tap_answers(world: LineWorld) -> None:
    faq = world.app.runtime.faq
    vague = next(t for t in VAGUE if faq.decide(t).outcome is Outcome.SUGGEST)
    user = world.new_user()
    await world.platform.say(user, vague)
    [suggestion] = await world.platform.wait_for_messages(user, 1)
    items = suggestion["quickReply"]["items"]
    assert items[-1]["action"]["data"].startswith('{"p":"none"')
    assert all(len(i["action"]["label"]) <= 20 for i in items)

    first = items[0]["action"]
    await world.platform.tap(user, items[0])
    messages = await world.platform.wait_for_messages(user, 2)
    entry_id = first["data"].split('"p":"faq:')[1].split('"')[0]
    entry = faq.entry(entry_id)
    assert entry is not None
    assert messages[1]["text"] == entry.answer_for("ja")
    transcript = await world.app.runtime.store.transcript(f"line:{user}")
    assert first["displayText"] in [t.text for t in transcript], "the tap reads as its label"


async def test_an_english_customer_with_a_japanese_profile_stays_in_english(
    world: LineWorld,
) -> None:
    user = world.new_user("Alex", "ja")  # LINE's profile says Japanese
    await world.platform.say(user, "How much is shipping?")
    answer, solved = await world.platform.wait_for_messages(user, 2)
    assert "550 yen" in answer["text"]
    no = next(i for i in solved["quickReply"]["items"] if '"p":"helpful:no"' in i["action"]["data"])
    assert no["action"]["label"] == "No"

    await world.platform.tap(user, no)  # a tap carries no language of its own
    fallback = (await world.platform.wait_for_messages(user, 3))[2]
    assert fallback["text"].startswith("Sorry, I couldn't find an answer"), fallback["text"]


async def test_asking_for_a_person_then_a_late_agent_message_is_pushed(world: LineWorld) -> None:
    user = world.new_user()
    rt = world.app.runtime
    await world.platform.say(user, "担当者と話したい")
    queued = (await world.platform.wait_for_messages(user, 1))[0]
    assert "担当者におつなぎします" in queued["text"]
    assert (await rt.store.load(f"line:{user}")).state is ConversationState.QUEUED  # type: ignore[union-attr]

    assert (await rt.agents.claim(f"line:{user}", Actor.console("Sato"))).ok
    assert (
        await rt.agents.reply(
            f"line:{user}", Actor.console("Sato"), "佐藤です。どうされましたか？", action_id="m1"
        )
    ).ok
    await world.platform.wait_for_text(user, "佐藤です。どうされましたか？")
    pushes = [s for s in world.platform.sent if s.kind == "push"]
    assert [s.messages[0]["text"] for s in pushes][-1] == "佐藤です。どうされましたか？"
    assert all(s.to == user and s.retry_key for s in pushes)
    seen = len(world.platform.messages_to(user))

    # Delivered again (the agent's desk retried): LINE never shows it twice.
    assert (
        await rt.agents.reply(
            f"line:{user}", Actor.console("Sato"), "佐藤です。どうされましたか？", action_id="m1"
        )
    ).ok
    await settled(rt.inbox)
    assert len(world.platform.messages_to(user)) == seen


async def test_redelivered_event_is_answered_once(world: LineWorld) -> None:
    user = world.new_user()
    event = world.platform.text(user, "送料はいくらですか？")
    await world.platform.post([event])
    await settled(world.app.runtime.inbox)
    answered = len(world.platform.messages_to(user))
    assert answered >= 1
    assert await world.platform.post([event], redelivery=True) == 200
    await settled(world.app.runtime.inbox)
    assert len(world.platform.messages_to(user)) == answered
    assert len(world.platform.sent) == 1, "one reply call, no push"


async def test_redelivered_event_that_was_never_handled_is_answered(world: LineWorld) -> None:
    user = world.new_user()
    event = world.platform.text(user, "送料はいくらですか？")
    # The first delivery never reached us (LINE timed out); this is LINE's redelivery.
    assert await world.platform.post([event], redelivery=True) == 200
    answer = (await world.platform.wait_for_messages(user, 1))[0]
    assert "550" in answer["text"]


async def test_media_gets_a_kind_reply_then_reaches_the_agent_with_a_link(
    world: LineWorld,
) -> None:
    user = world.new_user()
    rt, platform = world.app.runtime, world.platform
    await platform.post([platform.media(user, "image", content=b"picture-bytes")])
    kind = (await platform.wait_for_messages(user, 1))[0]
    assert "画像" in kind["text"]
    assert kind["quickReply"]["items"][0]["action"]["data"].startswith('{"p":"handoff"')

    await platform.tap(user, kind["quickReply"]["items"][0])
    await platform.wait_for_text(user, "担当者におつなぎします")
    assert (await rt.agents.claim(f"line:{user}", Actor.console("Sato"))).ok
    await platform.wait_for_text(user, "Sato")
    seen = len(platform.messages_to(user))
    photo = platform.media(user, "image", content=b"receipt-photo")
    await platform.post([photo])
    await settled(rt.inbox)
    assert len(platform.messages_to(user)) == seen, "no bot reply while an agent has it"
    transcript = await rt.store.transcript(f"line:{user}")
    line = next(t.text for t in reversed(transcript) if t.text.startswith("[image]"))
    link = line.split()[-1]
    assert photo["message"]["id"] in link
    async with httpx.AsyncClient(base_url=world.app.base_url) as http:
        response = await http.get(link)
        assert response.status_code == 200 and response.content == b"receipt-photo"
        forged = await http.get(link.split("?")[0] + "?sig=0000")
        assert forged.status_code == 403


async def test_content_links_use_the_public_base_url_when_line_has_none(
    make_settings: Callable[..., Settings],
) -> None:
    async with line_world(make_settings(public_base_url="https://shop.example/bot")) as world:
        user = world.new_user()
        platform = world.platform
        await platform.post([platform.media(user, "image", content=b"picture-bytes")])
        kind = (await platform.wait_for_messages(user, 1))[0]
        await platform.tap(user, kind["quickReply"]["items"][0])
        await platform.wait_for_text(user, "担当者におつなぎします")
        transcript = await world.app.runtime.store.transcript(f"line:{user}")
        line = next(t.text for t in transcript if t.text.startswith("[image]"))
        assert line.split()[-1].startswith("https://shop.example/bot/line/content/")


async def test_location_reaches_the_agent_as_a_map_link(world: LineWorld) -> None:
    user = world.new_user()
    platform = world.platform
    place = {
        "type": "location",
        "title": "Shop",
        "address": "Tokyo",
        "latitude": 35.6,
        "longitude": 139.7,
    }
    await platform.post([platform.message(user, place)])
    await platform.wait_for_messages(user, 1)
    transcript = await world.app.runtime.store.transcript(f"line:{user}")
    assert any("35.6,139.7" in t.text for t in transcript)


async def test_unfollow_closes_the_conversation_and_sends_nothing(world: LineWorld) -> None:
    user = world.new_user()
    rt, platform = world.app.runtime, world.platform
    await platform.say(user, "担当者と話したい")
    await platform.wait_for_messages(user, 1)
    assert await rt.queue.position(f"line:{user}") == 1
    await platform.post([platform.event("unfollow", user, reply=False)])
    await settled(rt.inbox)
    conversation = await rt.store.load(f"line:{user}")
    assert conversation is not None and conversation.state is ConversationState.CLOSED
    assert await rt.queue.position(f"line:{user}") is None
    assert [s.kind for s in platform.sent] == ["reply"], "nothing after the unfollow"


async def test_one_word_with_no_language_of_its_own_is_answered_in_the_profiles(
    world: LineWorld,
) -> None:
    # "ok" tells no language: the profile (looked up for it) says English.
    user = world.new_user("Emma", "en")
    await world.platform.say(user, "ok")
    answer = (await world.platform.wait_for_messages(user, 1))[0]
    assert user in world.platform.profile_requests
    conversation = await world.app.runtime.store.load(f"line:{user}")
    assert conversation is not None and conversation.locale == "en"
    assert conversation.display_name == "Emma"
    assert answer["text"].isascii(), answer["text"]

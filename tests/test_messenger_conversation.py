"""Messenger and Instagram customers through the whole app: FAQ answers, a handoff taken
in the web console or in Slack, the CES survey, the reports, the 24-hour rule and forget.

The real app runs with the channel configured by the registry from its settings, pointed at
the fake Meta platform; agents act through the console's HTTP API and the fake Slack.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot.clock import SYSTEM_CLOCK, Clock, FixedClock
from bot.composition.app import create_app
from bot.composition.runtime import Runtime
from bot.conversation import ConversationState
from bot.records import SurveyResponse
from bot.serving import serve_in_loop
from bot.settings import ChannelSettings, Settings
from channels.messenger.fake_platform import FakeMetaPlatform
from channels.messenger.keys import MetaKeys
from channels.messenger.surface import INSTAGRAM, MESSENGER, Surface
from channels.slack.blocks import CLAIM, CLOSE
from channels.slack.fake_platform import FakeSlack
from tests.eventually import eventually, settled

ADMIN = {"Authorization": "Bearer admin-token", "X-Agent-Name": quote("佐藤")}
DESK = "C0DESK"
SATO = "U0SATO"
DAY = 24 * 3600.0
# Timers that a jump of the clock would fire are pushed far away: these tests move the
# clock by days to cross Meta's windows, not to end conversations.
QUIET = {"idle_close_minutes": 60 * 24 * 60, "survey_timeout_hours": 24 * 60}


@dataclass
class World:
    platform: FakeMetaPlatform
    runtime: Runtime
    base_url: str
    http: httpx.AsyncClient

    def new_customer(self) -> str:
        user = str(uuid.uuid4().int)[:17]
        if self.platform.surface is MESSENGER:
            self.platform.add_user(user, first_name="Hanako", last_name="Yamada")
        else:
            self.platform.add_user(user, name="Hanako Yamada", username="hanako_shop")
        return user

    def key(self, user: str) -> str:
        return f"{self.platform.surface.name}:{user}"

    async def console(self, user: str, action: str, **body: Any) -> httpx.Response:
        url = f"/agent/api/conversations/{quote(self.key(user), safe='')}/{action}"
        return await self.http.post(url, headers=ADMIN, json=body or None)


@contextlib.asynccontextmanager
async def meta_world(
    settings: Settings,
    surface: Surface,
    *,
    clock: Clock = SYSTEM_CLOCK,
    also: dict[str, ChannelSettings] | None = None,
    profile_timeout: float = 5,
) -> AsyncIterator[World]:
    """The app with the channel on the fake Meta platform (and the `also` channels)."""
    platform = await FakeMetaPlatform(
        surface,
        app_secret=f"secret-{uuid.uuid4().hex}",
        access_token=f"token-{uuid.uuid4().hex}",
        verify_token=f"verify-{uuid.uuid4().hex}",
        clock=clock.now,
    ).start()
    meta = platform.channel_settings(profile_timeout_seconds=profile_timeout)
    channels = {**settings.channels, surface.name: meta, **(also or {})}
    configured = settings.model_copy(update={"channels": channels})
    runtime = Runtime(configured, clock=clock)
    try:
        async with serve_in_loop(create_app(configured, runtime=runtime)) as base_url:
            platform.webhook_url = base_url + meta.webhook_path
            async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
                yield World(platform, runtime, base_url, http)
    finally:
        await runtime.redis.aclose()
        await platform.stop()


@pytest.mark.parametrize("surface", [MESSENGER, INSTAGRAM], ids=["messenger", "instagram"])
async def test_faq_answer_handoff_in_the_console_survey_and_reports(
    make_settings: Callable[..., Settings], surface: Surface
) -> None:
    async with meta_world(make_settings(admin_token="admin-token"), surface) as world:
        platform, rt = world.platform, world.runtime
        assert (await platform.subscribe())[0] == 200
        user = world.new_customer()

        await platform.say(user, "送料はいくらですか？")
        answer = await platform.wait_for_text(user, "550")
        assert answer.messaging_type == "RESPONSE"
        solved = await platform.wait_for_text(user, "解決しましたか")
        assert len(solved.quick_replies) == 2

        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "担当者におつなぎします")
        queue = (await world.http.get("/agent/api/queue", headers=ADMIN)).json()
        [waiting] = [w for w in queue["waiting"] if w["customer_key"] == world.key(user)]
        assert waiting["channel"] == surface.name and waiting["display_name"]
        me = (await world.http.get("/agent/api/me", headers=ADMIN)).json()
        assert me["channels"][surface.name]["en"] == surface.name.capitalize()

        assert (await world.console(user, "claim")).status_code == 200
        await platform.wait_for_text(user, "佐藤")
        reply = await world.console(
            user, "reply", text="佐藤です。ご注文番号を教えてください。", client_id=uuid.uuid4().hex
        )
        assert reply.status_code == 200
        from_agent = await platform.wait_for_text(user, "ご注文番号を教えてください")
        assert from_agent.messaging_type == "RESPONSE"

        await platform.say(user, "1234 です")

        async def customer_message_shown() -> bool:
            transcript = (await view_again(world, user))["transcript"]
            return any("1234 です" in line["text"] for line in transcript)

        await eventually(customer_message_shown, what="the customer's message in the console")

        assert (await world.console(user, "close")).status_code == 200
        survey = await platform.wait_for_text(user, "簡単に解決できた")
        assert [q["title"][0] for q in survey.quick_replies] == list("1234567")
        await platform.tap(user, survey.quick_replies[5])
        await platform.wait_for_text(user, "ありがとうございました")

        conversation = await rt.store.load(world.key(user))
        assert conversation is not None and conversation.state is ConversationState.CLOSED
        [response] = [r async for r in rt.records.read(SurveyResponse)]
        assert (response.score, response.channel) == (6, surface.name)
        report = (await world.http.get("/admin/api/report", headers=ADMIN)).json()
        [segment] = [s for s in report["by_channel"] if s["key"] == surface.name]
        assert segment["label"] == surface.name.capitalize()
        assert segment["conversations"] >= 1


@pytest.mark.parametrize("surface", [MESSENGER, INSTAGRAM], ids=["messenger", "instagram"])
async def test_the_webhook_is_answered_before_meta_gives_the_name_and_the_agent_sees_it(
    make_settings: Callable[..., Settings], surface: Surface
) -> None:
    # The worker waits for the name far longer than the test takes: released, it arrives.
    settings = make_settings(admin_token="admin-token")
    async with meta_world(settings, surface, profile_timeout=60) as world:
        platform = world.platform
        user = world.new_customer()
        platform.hold_profiles()

        assert await platform.say(user, "人と話したい") == 200
        # Asked for after the 200, by the worker, which decides nothing until it has it.
        assert await platform.wait_until(lambda: user in platform.profile_requests, 30)
        assert platform.texts_to(user) == []
        platform.release_profiles()

        await platform.wait_for_text(user, "担当者におつなぎします")
        queue = (await world.http.get("/agent/api/queue", headers=ADMIN)).json()
        [waiting] = [w for w in queue["waiting"] if w["customer_key"] == world.key(user)]
        assert waiting["display_name"] == "Hanako Yamada"

        # Cached: the customer's next message asks Meta nothing.
        await platform.say(user, "まだですか")
        await settled(world.runtime.inbox)
        assert platform.profile_requests == [user]


async def view_again(world: World, user: str) -> dict[str, Any]:
    url = f"/agent/api/conversations/{quote(world.key(user), safe='')}"
    response = await world.http.get(url, headers=ADMIN)
    return dict(response.json())


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(f"slack-secret-{uuid.uuid4().hex}")
    await fake.start()
    fake.add_user(SATO, "Sato", "Sato Hanako")
    yield fake
    await fake.stop()


async def test_a_messenger_customer_handed_to_slack_and_meta_s_windows(
    make_settings: Callable[..., Settings], slack: FakeSlack
) -> None:
    clock = FixedClock(1_800_000_000.0)
    settings = make_settings(**QUIET)
    also = {"slack": slack.channel_settings(DESK)}
    async with meta_world(settings, MESSENGER, clock=clock, also=also) as world:
        slack.app_url = world.base_url
        platform = world.platform
        user = world.new_customer()

        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "担当者におつなぎします")
        [escalation] = await slack.wait_for(
            lambda: [p for p in slack.posts(DESK) if "thread_ts" not in p.args], what="escalation"
        )
        shown = str(escalation.args["blocks"])
        assert "Messenger" in shown and "Hanako Yamada" in shown
        await slack.click(SATO, escalation, CLAIM)
        await platform.wait_for_text(user, "Sato")
        thread = escalation.result["ts"]

        # A day and an hour later the agent's reply still goes, tagged as a person's.
        clock.advance(DAY + 3600)
        await slack.user_says(SATO, "お待たせしました。本日発送しました。", DESK, thread_ts=thread)
        late = await platform.wait_for_text(user, "本日発送しました")
        assert (late.messaging_type, late.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")

        # After 7 days nothing goes, and the agent is told in the thread.
        clock.advance(7 * DAY)
        await slack.user_says(SATO, "その後いかがでしょうか", DESK, thread_ts=thread)
        [note] = await slack.wait_for(
            lambda: [
                p
                for p in slack.posts(DESK, thread)
                if "did not reach" in p.args.get("text", "")
                or "delivery_failed" in p.args.get("text", "")
            ],
            what="the undelivered reply told in the thread",
        )
        assert "7 days" in note.args["text"] and "その後いかがでしょうか" in note.args["text"]
        assert "その後いかがでしょうか" not in platform.texts_to(user)

        # The customer writes again: the window is open again for everyone.
        await platform.say(user, "まだ届いていません")
        await slack.wait_for(
            lambda: [
                p
                for p in slack.posts(DESK, thread)
                if "まだ届いていません" in p.args.get("text", "")
            ],
            what="the customer's message in the thread",
        )
        await slack.click(SATO, escalation, CLOSE)
        survey = await platform.wait_for_text(user, "簡単に解決できた")
        assert survey.messaging_type == "RESPONSE"


async def test_a_redelivered_webhook_is_answered_once(
    make_settings: Callable[..., Settings],
) -> None:
    async with meta_world(make_settings(), INSTAGRAM) as world:
        platform = world.platform
        user = world.new_customer()
        item = platform.text(user, "送料はいくらですか？")
        assert await platform.post([item]) == 200
        await platform.wait_for_text(user, "550")
        assert await platform.post([item]) == 200  # Meta redelivers the same mid
        await settled(world.runtime.inbox)
        assert sum("550" in text for text in platform.texts_to(user)) == 1


async def test_attachments_reach_the_agent_as_links(make_settings: Callable[..., Settings]) -> None:
    async with meta_world(make_settings(admin_token="admin-token"), MESSENGER) as world:
        platform = world.platform
        user = world.new_customer()
        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "担当者におつなぎします")
        assert (await world.console(user, "claim")).status_code == 200
        photo = "https://scontent.example/photo-of-the-box.jpg"
        await platform.post([platform.attachment(user, "image", photo)])

        async def shown() -> bool:
            transcript = (await view_again(world, user))["transcript"]
            return any(f"[image] {photo}" in line["text"] for line in transcript)

        await eventually(shown, what="the image link in the console's transcript")


async def test_forget_erases_a_messenger_customer(make_settings: Callable[..., Settings]) -> None:
    async with meta_world(make_settings(), MESSENGER) as world:
        platform, rt = world.platform, world.runtime
        user = world.new_customer()
        await platform.say(user, "送料はいくらですか？")
        await platform.wait_for_text(user, "550")
        await settled(rt.inbox)
        pattern = f"{rt.keys.prefix}:*{user}*"
        assert [k async for k in rt.redis.scan_iter(match=pattern)]
        await rt.forget(world.key(user))
        assert [k async for k in rt.redis.scan_iter(match=pattern)] == []


async def lose_the_window(world: World, user: str) -> str:
    """What a failover right after the webhook's 200 may leave: the inbox's events were
    waited for on their replica, the customer's window (in their own slot, on another
    node) was not, and the promoted replica never had it. Returns the window's key."""
    window = MetaKeys(world.runtime.keys, world.platform.surface.name).last_message(user)
    assert await world.runtime.redis.delete(window) == 1
    return window


@pytest.mark.parametrize("surface", [MESSENGER, INSTAGRAM], ids=["messenger", "instagram"])
async def test_a_window_lost_after_the_webhook_is_recorded_again_from_the_event(
    make_settings: Callable[..., Settings], surface: Surface
) -> None:
    clock = FixedClock(1_800_000_000.0)
    settings = make_settings(run_worker=False, **QUIET)  # the test runs the worker
    async with meta_world(settings, surface, clock=clock) as world:
        platform, rt = world.platform, world.runtime
        user = world.new_customer()
        assert await platform.say(user, "送料はいくらですか？") == 200
        written_at = clock.now()
        window = await lose_the_window(world, user)

        clock.advance(60)  # the worker handles the event a minute later
        await rt.drain_inbox()  # returns once the answer went out (or failed for good)
        assert [s.messaging_type for s in platform.sent_to(user) if "550" in s.text] == ["RESPONSE"]
        # From the event's own time, not the worker's.
        assert float(await rt.redis.get(window)) == pytest.approx(written_at, abs=0.001)


async def test_an_event_handled_a_day_late_opens_no_window_meta_has_closed(
    make_settings: Callable[..., Settings],
) -> None:
    clock = FixedClock(1_800_000_000.0)
    settings = make_settings(run_worker=False, **QUIET)
    async with meta_world(settings, MESSENGER, clock=clock) as world:
        platform, rt = world.platform, world.runtime
        user = world.new_customer()
        assert await platform.say(user, "送料はいくらですか？") == 200
        written_at = clock.now()
        window = await lose_the_window(world, user)

        clock.advance(DAY + 3600)  # the workers were down for a day
        await rt.drain_inbox()
        assert float(await rt.redis.get(window)) == pytest.approx(written_at, abs=0.001)
        assert platform.sent_to(user) == [] and platform.refused == []


async def test_an_older_event_handled_late_keeps_the_customer_s_later_window(
    make_settings: Callable[..., Settings],
) -> None:
    clock = FixedClock(1_800_000_000.0)
    settings = make_settings(run_worker=False, **QUIET)
    async with meta_world(settings, MESSENGER, clock=clock) as world:
        platform, rt = world.platform, world.runtime
        user = world.new_customer()
        assert await platform.say(user, "送料はいくらですか？") == 200
        clock.advance(DAY + 3600)  # the workers were down; the customer writes again
        assert await platform.say(user, "返品したい") == 200
        written_again_at = clock.now()

        await rt.drain_inbox()
        window = MetaKeys(rt.keys, MESSENGER.name).last_message(user)
        assert float(await rt.redis.get(window)) == pytest.approx(written_again_at, abs=0.001)
        # Both are answered, as Meta allows: within 24 hours of the customer's last message.
        assert [s.messaging_type for s in platform.sent_to(user) if "550" in s.text] == ["RESPONSE"]
        assert platform.refused == []

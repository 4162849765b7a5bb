"""The Messenger/Instagram sender against the fake Meta platform and a real Redis: the
messaging window, exactly-once markers, Meta's limits and failures as `bot.errors` types."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from bot.clock import FixedClock
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter
from bot.model import Choice, Outgoing, Reply, ReplyKind
from bot.storage import Keys
from channels.messenger.client import SendApi
from channels.messenger.fake_platform import FakeMetaPlatform
from channels.messenger.keys import MetaKeys
from channels.messenger.sender import MetaSender
from channels.messenger.settings import InstagramSettings, MessengerSettings, MetaAccount
from channels.messenger.surface import INSTAGRAM, MESSENGER, Surface
from channels.messenger.window import LastMessages

HOUR = 3600.0
START = 1_800_000_000.0  # 2027-01-15, any instant will do: the clock is injected


@dataclass
class Rig:
    platform: FakeMetaPlatform
    sender: MetaSender
    clock: FixedClock
    last: LastMessages
    user: str

    async def customer_writes(self) -> None:
        """The customer writes now (at Meta and in our record)."""
        self.platform.last_message_at[self.user] = self.clock.now()
        await self.last.record(self.user, self.clock.now())

    def later(self, hours: float) -> None:
        self.clock.advance(hours * HOUR)


def outgoing(user: str, text: str, kind: ReplyKind = ReplyKind.ANSWER, **reply: object) -> Outgoing:
    return Outgoing(
        message_id=uuid.uuid4().hex,
        channel="messenger",
        user_id=user,
        conversation_id="c1",
        reply=Reply(text=text, kind=kind, **reply),  # type: ignore[arg-type]
    )


def account_for(surface: Surface, platform: FakeMetaPlatform) -> MetaAccount:
    common = {
        "_env_file": None,
        "app_secret": platform.app_secret,
        "verify_token": platform.verify_token,
        "api_base_url": platform.base_url,
    }
    if surface is MESSENGER:
        return MessengerSettings(page_access_token=platform.access_token, **common).account()  # type: ignore[arg-type]
    return InstagramSettings(access_token=platform.access_token, **common).account()  # type: ignore[arg-type]


@pytest.fixture(params=[MESSENGER, INSTAGRAM], ids=["messenger", "instagram"])
async def rig(
    request: pytest.FixtureRequest, redis_client: aioredis.Redis, key_prefix: str
) -> AsyncIterator[Rig]:
    surface: Surface = request.param
    clock = FixedClock(START)
    platform = await FakeMetaPlatform(surface, clock=clock.now).start()
    api = SendApi(account_for(surface, platform))
    keys = MetaKeys(Keys(key_prefix), surface.name)
    last = LastMessages(redis_client, keys)
    sender = MetaSender(surface, api, redis_client, keys, last, clock=clock)
    rig = Rig(platform, sender, clock, last, user=str(uuid.uuid4().int)[:17])
    await rig.customer_writes()
    try:
        yield rig
    finally:
        await api.close()
        await platform.stop()


async def test_within_24_hours_a_reply_goes_as_a_response_with_its_quick_replies(rig: Rig) -> None:
    batch = [
        outgoing(
            rig.user, "送料は全国一律500円です。", choices=[Choice(label="はい", payload="yes")]
        )
    ]
    await rig.sender.send(batch)
    [sent] = rig.platform.sent
    assert (sent.messaging_type, sent.tag, sent.text) == (
        "RESPONSE",
        None,
        "送料は全国一律500円です。",
    )
    assert [q["title"] for q in sent.quick_replies] == ["はい"]
    await rig.sender.send(batch)  # a retry or a replayed event: nothing twice
    assert len(rig.platform.sent) == 1


async def test_after_24_hours_only_an_agents_reply_goes_tagged_human_agent(rig: Rig) -> None:
    rig.later(25)
    with pytest.raises(PermanentFailure) as closed:
        await rig.sender.send([outgoing(rig.user, "この回答で解決しましたか？", ReplyKind.SURVEY)])
    assert "24 hours" in closed.value.reason
    await rig.sender.send(
        [outgoing(rig.user, "お待たせしました。", ReplyKind.AGENT, sender="Sato")]
    )
    [sent] = rig.platform.sent
    assert (sent.messaging_type, sent.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")


async def test_a_batch_partly_outside_the_window_sends_what_may_go(rig: Rig) -> None:
    rig.later(30)
    await rig.sender.send(
        [
            outgoing(rig.user, "本日発送しました。", ReplyKind.AGENT, sender="Sato"),
            outgoing(rig.user, "今回の用件は簡単に解決できましたか？", ReplyKind.SURVEY),
        ]
    )
    assert rig.platform.texts_to(rig.user) == ["本日発送しました。"]


async def test_after_7_days_nothing_goes_and_the_failure_says_why(rig: Rig) -> None:
    rig.later(24 * 8)
    with pytest.raises(PermanentFailure) as closed:
        await rig.sender.send(
            [outgoing(rig.user, "遅くなりました", ReplyKind.AGENT, sender="Sato")]
        )
    assert "7 days" in closed.value.reason
    assert rig.platform.sent == [] and rig.platform.refused == []
    await rig.customer_writes()  # the customer writes again: the window opens again
    await rig.sender.send([outgoing(rig.user, "遅くなりました", ReplyKind.AGENT, sender="Sato")])
    assert rig.platform.texts_to(rig.user) == ["遅くなりました"]


async def test_meta_failing_is_a_retry_and_the_retry_sends_only_what_is_missing(rig: Rig) -> None:
    long_text = "\n\n".join(f"{n}。" + "あ" * 800 for n in range(3))  # several messages
    batch = [outgoing(rig.user, long_text)]
    rig.platform.fail(500, code=2, times=1, after=1)
    with pytest.raises(PlatformUnavailable):
        await rig.sender.send(batch)
    assert len(rig.platform.sent) == 1, "the first part went out"
    await rig.sender.send(batch)
    parts = rig.platform.texts_to(rig.user)
    assert len(parts) >= 2 and "".join(parts).replace("\n", "") == long_text.replace("\n", "")
    sent_before = len(rig.platform.sent)
    await rig.sender.send(batch)
    assert len(rig.platform.sent) == sent_before


async def test_rate_limits_and_refusals_are_typed(rig: Rig) -> None:
    rig.platform.fail(429, code=613, retry_after=30)
    with pytest.raises(RetryAfter) as slow:
        await rig.sender.send([outgoing(rig.user, "a")])
    assert slow.value.seconds == 30
    rig.platform.fail(400, code=4)
    with pytest.raises(PlatformUnavailable):
        await rig.sender.send([outgoing(rig.user, "b")])
    rig.platform.fail(400, code=551, message="This person isn't available right now.")
    with pytest.raises(PermanentFailure) as gone:
        await rig.sender.send([outgoing(rig.user, "c")])
    assert "not available" in gone.value.reason
    rig.platform.access_token = "rotated"
    with pytest.raises(PermanentFailure) as token:
        await rig.sender.send([outgoing(rig.user, "d")])
    assert "access token" in token.value.reason


async def test_meta_unreachable_is_a_retry(rig: Rig) -> None:
    await rig.platform.stop()
    with pytest.raises(PlatformUnavailable):
        await rig.sender.send([outgoing(rig.user, "x")])


async def test_the_last_message_time_only_moves_forward(rig: Rig) -> None:
    now = rig.clock.now()
    await rig.last.record(rig.user, now - 10 * HOUR)
    assert await rig.last.last(rig.user) == pytest.approx(now)
    await rig.last.record(rig.user, now + 5)
    assert await rig.last.last(rig.user) == pytest.approx(now + 5)

"""The Messenger webhook routes and the Send API client against the fake Meta platform,
over real HTTP (no runtime: the routes hand their events to a list)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.model import Inbound
from bot.storage import Keys
from channels.messenger.client import GraphError, SendApi
from channels.messenger.fake_platform import FakeMetaPlatform
from channels.messenger.keys import MetaKeys
from channels.messenger.profiles import Profiles
from channels.messenger.settings import InstagramSettings, MessengerSettings
from channels.messenger.surface import INSTAGRAM, MESSENGER
from channels.messenger.webhook import sign
from channels.messenger.window import HUMAN_AGENT, RESPONSE
from tests.fakes.meta_platform import MetaWebhookRig as Rig
from tests.fakes.meta_platform import messenger_channel_rig, messenger_webhook_rig
from tests.faults import PrivateRedis

USER = "24000000000000007"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with messenger_webhook_rig() as rig:
        yield rig


async def test_the_handshake_echoes_the_challenge_only_for_our_verify_token(
    rig: Rig,
) -> None:
    status, text = await rig.platform.subscribe()
    assert status == 200 and len(text) == 32
    assert (await rig.platform.subscribe(verify_token="guess"))[0] == 403
    assert (await rig.platform.subscribe(verify_token=""))[0] == 403


async def test_a_signed_message_is_handed_over_and_answered_200(rig: Rig) -> None:
    assert await rig.platform.say(USER, "送料はいくらですか？") == 200
    [event] = rig.received
    assert (event.user_id, event.text) == (USER, "送料はいくらですか？")


async def test_a_bad_or_missing_signature_is_refused_with_nothing_handed_over(
    rig: Rig,
) -> None:
    platform = rig.platform
    body = platform.body([platform.text(USER, "送料")])
    assert await platform.post([], body=body, signature=sign("another", body)) == 401
    assert await platform.post([], body=body, signature="") == 401
    assert (
        await platform.post([], body=body + b" ", signature=sign(platform.app_secret, body)) == 401
    )
    assert rig.received == []


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'{"object": "page", "entry": 5}', b"[" * 100_000]
)
async def test_a_malformed_body_gets_a_clear_400(rig: Rig, raw: bytes) -> None:
    platform = rig.platform
    assert await platform.post([], body=raw, signature=sign(platform.app_secret, raw)) == 400
    assert rig.received == []


async def test_echoes_and_reads_are_acknowledged_and_ignored(rig: Rig) -> None:
    platform = rig.platform
    assert await platform.post([platform.echo(USER, "ours"), platform.read(USER)]) == 200
    assert rig.received == []


class CountingConnection(aioredis.Connection):
    """redis-py's connection, counting what it writes to the server: one write per command,
    or per pipeline of commands, each followed by reading the answers (a round trip)."""

    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


async def test_a_webhook_is_stored_in_one_redis_round_trip_with_no_call_to_meta(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(tmp_path).start()  # no other client's commands in what it sees
    redis = aioredis.Redis.from_url(
        server.url, decode_responses=True, connection_class=CountingConnection
    )
    probe = aioredis.Redis.from_url(server.url, decode_responses=True)
    other = "24000000000000009"
    try:
        async with messenger_channel_rig(redis, "roundtrip") as rig:
            platform, channel = rig.platform, rig.channel
            platform.add_user(USER, first_name="Hanako", last_name="Yamada")
            platform.hold_profiles()  # a profile asked for would hold the 200 up
            items = [
                platform.text(USER, "送料はいくらですか？"),
                platform.text(other, "返品したい"),
                platform.postback(USER, "GET_STARTED"),
            ]
            # Connected (its hand-shake is not the webhook's); where from, as MONITOR says.
            address = str((await redis.client_info())["addr"])
            CountingConnection.writes = 0
            async with probe.monitor() as monitor:
                assert await platform.post(items) == 200
                await probe.echo("webhook answered")
                seen = []
                async for command in monitor.listen():  # up to the probe's ECHO
                    if "webhook answered" in command["command"]:
                        break
                    seen.append(command)
            assert CountingConnection.writes == 1, "one round trip for the whole webhook"
            sent = [
                c["command"].split(" ")[0]
                for c in seen
                if f"{c['client_address']}:{c['client_port']}" == address
            ]
            assert sent == ["EVAL", "EVAL", "EVAL"], "two windows, then the events"
            assert platform.profile_requests == []

            latest = max(items[0]["timestamp"], items[2]["timestamp"]) / 1000
            assert await channel.last_messages.last(USER) == pytest.approx(latest, abs=0.001)
            assert await channel.last_messages.last(other) is not None
            assert await channel.inbox.backlog() == 3
    finally:
        await redis.aclose()
        await probe.aclose()
        server.stop()


async def test_the_worker_records_the_event_s_window_and_reads_the_name_in_one_round_trip(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(tmp_path).start()
    redis = aioredis.Redis.from_url(
        server.url, decode_responses=True, connection_class=CountingConnection
    )
    written_at = 1_800_000_000.0
    try:
        async with messenger_channel_rig(redis, "attend") as rig:
            channel = rig.channel
            # Connected, with the name cached by an earlier message.
            await redis.set(channel.keys.profile(USER), "Hanako Yamada")
            inbound = Inbound(
                event_id="m_1", channel="messenger", user_id=USER, received_at=written_at
            )
            CountingConnection.writes = 0
            async with channel.attendant.attend(inbound):
                assert CountingConnection.writes == 1, "one round trip before the decision"
            assert inbound.display_name == "Hanako Yamada"
            assert await channel.last_messages.last(USER) == pytest.approx(written_at, abs=0.001)
            assert rig.platform.profile_requests == []
    finally:
        await redis.aclose()
        server.stop()


async def test_the_send_api_client_sends_as_the_window_allows() -> None:
    clock = [1_800_000_000.0]
    platform = await FakeMetaPlatform(INSTAGRAM, clock=lambda: clock[0]).start()
    account = InstagramSettings(
        _env_file=None,  # type: ignore[call-arg]
        access_token=platform.access_token,
        app_secret=platform.app_secret,
        verify_token=platform.verify_token,
        api_base_url=platform.base_url,
    ).account()
    api = SendApi(account)
    await api.open()
    try:
        platform.last_message_at[USER] = clock[0]
        assert await api.send(USER, {"text": "こんにちは"}, RESPONSE)
        clock[0] += 25 * 3600
        with pytest.raises(GraphError) as outside:
            await api.send(USER, {"text": "遅れてすみません"}, RESPONSE)
        assert (outside.value.code, outside.value.subcode) == (10, 2018278)
        await api.send(USER, {"text": "遅れてすみません"}, HUMAN_AGENT)
        assert [(s.messaging_type, s.tag, s.account) for s in platform.sent] == [
            ("RESPONSE", None, "me"),
            ("MESSAGE_TAG", "HUMAN_AGENT", "me"),
        ]
        platform.fail(503, code=2, retry_after=7)
        with pytest.raises(GraphError) as unavailable:
            await api.send(USER, {"text": "x"}, HUMAN_AGENT)
        assert (unavailable.value.status, unavailable.value.code) == (503, 2)
        assert unavailable.value.retry_after == 7
        with pytest.raises(GraphError) as too_long:
            await api.send(USER, {"text": "あ" * 334}, HUMAN_AGENT)  # 1,002 bytes
        assert too_long.value.code == 100
    finally:
        await api.close()
        await platform.stop()


async def test_a_wrong_access_token_is_code_190() -> None:
    platform = await FakeMetaPlatform(MESSENGER).start()
    account = MessengerSettings(
        _env_file=None,  # type: ignore[call-arg]
        page_access_token="wrong",
        api_base_url=platform.base_url,
    ).account()
    api = SendApi(account)
    try:
        with pytest.raises(GraphError) as refused:
            await api.send(USER, {"text": "x"}, RESPONSE)
        assert refused.value.code == 190
    finally:
        await api.close()
        await platform.stop()


async def test_names_come_from_the_profile_api_once_then_from_the_cache(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    messenger = await FakeMetaPlatform(MESSENGER).start()
    instagram = await FakeMetaPlatform(INSTAGRAM).start()
    apis = [
        SendApi(
            MessengerSettings(
                _env_file=None,  # type: ignore[call-arg]
                page_access_token=messenger.access_token,
                api_base_url=messenger.base_url,
            ).account()
        ),
        SendApi(
            InstagramSettings(
                _env_file=None,  # type: ignore[call-arg]
                access_token=instagram.access_token,
                api_base_url=instagram.base_url,
            ).account()
        ),
    ]
    try:
        messenger.add_user(USER, first_name="Hanako", last_name="Yamada")
        instagram.add_user(USER, name="", username="hanako_shop")
        found = Profiles(MESSENGER, apis[0], redis_client, MetaKeys(Keys(key_prefix), "messenger"))
        assert await found.name(USER, timeout=5) == "Hanako Yamada"
        assert await found.name(USER, timeout=5) == "Hanako Yamada"
        assert messenger.profile_requests == [USER]
        assert await found.name("unknown", timeout=5) is None
        assert await found.name("unknown", timeout=5) is None
        assert messenger.profile_requests == [USER, "unknown"], "an unknown one is cached too"
        handle = Profiles(INSTAGRAM, apis[1], redis_client, MetaKeys(Keys(key_prefix), "instagram"))
        assert await handle.name(USER, timeout=5) == "@hanako_shop"
        await found.close()
        await handle.close()
    finally:
        for api in apis:
            await api.close()
        await messenger.stop()
        await instagram.stop()

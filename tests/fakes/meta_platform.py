"""The Messenger webhook behind real HTTP, fed by the fake Meta platform, with no runtime:
the routes alone (the events they read collected in a list), or the running channel's
routes storing into a real inbox on the Redis a test gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from redis.asyncio import Redis

from bot.inbox import Inbox
from bot.serving import serve_in_loop
from bot.storage import Keys
from channels.messenger.adapter import MetaChannel
from channels.messenger.events import MetaEvent
from channels.messenger.fake_platform import FakeMetaPlatform
from channels.messenger.settings import MessengerSettings
from channels.messenger.surface import MESSENGER
from channels.messenger.webhook import build_router


class MetaWebhookRig:
    """The fake platform that signs and posts, and what the webhook handed on."""

    def __init__(self, platform: FakeMetaPlatform):
        self.platform = platform
        self.received: list[MetaEvent] = []

    async def post_raw(self, body: str) -> int:
        """Post a body as Meta would, signed with the app secret; the HTTP status."""
        return await self.platform.post([], body=body.encode())


@asynccontextmanager
async def messenger_webhook_rig() -> AsyncIterator[MetaWebhookRig]:
    """Serve the Messenger webhook routes with the fake platform pointed at them."""
    platform = await FakeMetaPlatform(MESSENGER, app_secret="s3cret").start()
    rig = MetaWebhookRig(platform)
    account = MessengerSettings(
        _env_file=None,  # type: ignore[call-arg]
        page_access_token=platform.access_token,
        app_secret=platform.app_secret,
        verify_token=platform.verify_token,
        api_base_url=platform.base_url,
    ).account()

    async def collect(events: list[MetaEvent]) -> None:
        rig.received.extend(events)

    app = FastAPI()
    app.include_router(build_router(MESSENGER, account, collect))
    try:
        async with serve_in_loop(app) as base_url:
            platform.webhook_url = base_url + account.webhook_path
            yield rig
    finally:
        await platform.stop()


@dataclass
class MetaChannelRig:
    """The fake platform posting to the Messenger channel's routes, and that channel."""

    platform: FakeMetaPlatform
    channel: MetaChannel


@asynccontextmanager
async def messenger_channel_rig(redis: Redis, prefix: str) -> AsyncIterator[MetaChannelRig]:
    """Serve the running Messenger channel's routes (no worker), storing into an inbox on
    `redis` under the key `prefix`."""
    platform = await FakeMetaPlatform(MESSENGER).start()
    settings = platform.channel_settings()
    assert isinstance(settings, MessengerSettings)
    keys = Keys(prefix)
    channel = MetaChannel(
        MESSENGER, settings.account(), Inbox(redis, keys, keys.partitions), redis, keys
    )
    app = FastAPI()
    app.include_router(channel.router)
    try:
        await channel.start()
        async with serve_in_loop(app) as base_url:
            platform.webhook_url = base_url + settings.webhook_path
            yield MetaChannelRig(platform, channel)
    finally:
        await channel.stop()
        await platform.stop()

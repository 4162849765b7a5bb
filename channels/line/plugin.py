"""The LINE channel as the registry knows it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from bot.channel_catalog import Label
from bot.storage import Keys
from channels.base import ChannelParts, ChannelPlugin, FakePlatform, RunningChannel, ServeApp
from channels.line.keys import LineKeys
from channels.line.settings import NAME, LineSettings

if TYPE_CHECKING:
    import click

    from bot.ports import PanelSource


def with_public_base_url(settings: LineSettings, public_base_url: str | None) -> LineSettings:
    """LINE's settings with `LINE_PUBLIC_BASE_URL` taken from `PUBLIC_BASE_URL` when unset,
    so one address set for the help center also makes agents' content links absolute."""
    if settings.public_base_url or not public_base_url:
        return settings
    return settings.model_copy(update={"public_base_url": public_base_url})


class LinePlugin(ChannelPlugin[LineSettings]):
    """A LINE official account (Messaging API): `LINE_*` settings."""

    name = NAME
    label = Label(ja="LINE", en="LINE")
    settings_type = LineSettings

    def build(self, settings: LineSettings, parts: ChannelParts) -> RunningChannel:
        """The webhook, the sender and the profile cache of one LINE official account."""
        from channels.line.adapter import LineChannel

        return LineChannel(
            with_public_base_url(settings, parts.settings.public_base_url),
            parts.inbox,
            parts.redis,
            parts.keys,
            clock=parts.clock,
        )

    async def customer_keys(self, redis: Redis, keys: Keys, customer_key: str) -> list[str]:
        """A LINE customer's cached profile and unreachable marker."""
        channel, _, user_id = customer_key.partition(":")
        if channel != NAME:
            return []
        return LineKeys(keys).customer_keys(user_id)

    async def start_fake_platform(self) -> FakePlatform | None:
        """The fake LINE platform (`channels.line.fake_platform`) on a loopback port."""
        from channels.line.fake_platform import FakeLinePlatform

        return await FakeLinePlatform(
            channel_secret=f"secret-{uuid.uuid4().hex}", access_token=f"token-{uuid.uuid4().hex}"
        ).start()

    @contextlib.asynccontextmanager
    async def report_panel(
        self, settings: LineSettings, redis: Redis, keys: Keys
    ) -> AsyncIterator[PanelSource | None]:
        """The messages-cost panel, its Messaging API client open inside the block."""
        from bot.inbox import Inbox
        from channels.line.adapter import LineChannel

        line = LineChannel(settings, Inbox(redis, keys, 1), redis, keys)
        await line.api.open()
        try:
            yield line.panel
        finally:
            await line.api.close()

    def commands(self, serve: ServeApp) -> click.Group:
        """`tsunagu line simulate`."""
        from channels.line.cli import line_commands

        return line_commands(serve)


CHANNEL = LinePlugin()

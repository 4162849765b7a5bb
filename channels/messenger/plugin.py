"""Messenger and Instagram Direct as the registry knows them: two channels, one
implementation (this package); `channels.messenger` exposes Messenger's plugin and
`channels.messenger.instagram` Instagram's."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar, TypeVar

from redis.asyncio import Redis

from bot.channel_catalog import Label
from bot.storage import Keys
from channels.base import ChannelParts, ChannelPlugin, FakePlatform, RunningChannel, ServeApp
from channels.messenger.keys import MetaKeys
from channels.messenger.settings import InstagramSettings, MessengerSettings
from channels.messenger.surface import INSTAGRAM, MESSENGER, Surface

if TYPE_CHECKING:
    import click

S = TypeVar("S", MessengerSettings, InstagramSettings)


class MetaPlugin(ChannelPlugin[S]):
    """What the two channels share: built the same way, the same keys, the same fake."""

    surface: ClassVar[Surface]

    def build(self, settings: S, parts: ChannelParts) -> RunningChannel:
        """The webhook routes, the sender and the profile cache of one Page or account."""
        from channels.messenger.adapter import MetaChannel

        return MetaChannel(
            self.surface,
            settings.account(),
            parts.inbox,
            parts.redis,
            parts.keys,
            clock=parts.clock,
        )

    async def customer_keys(self, redis: Redis, keys: Keys, customer_key: str) -> list[str]:
        """A customer's cached name (their messaging window is among their own keys)."""
        channel, _, user_id = customer_key.partition(":")
        if channel != self.name:
            return []
        return MetaKeys(keys, self.name).outside_customer(user_id)

    async def start_fake_platform(self) -> FakePlatform:
        """A fake Meta platform (`channels.messenger.fake_platform`) on a loopback port."""
        from channels.messenger.fake_platform import FakeMetaPlatform

        return await FakeMetaPlatform(
            self.surface,
            app_secret=f"secret-{uuid.uuid4().hex}",
            access_token=f"token-{uuid.uuid4().hex}",
            verify_token=f"verify-{uuid.uuid4().hex}",
        ).start()


class MessengerPlugin(MetaPlugin[MessengerSettings]):
    """A Facebook Page's Messenger inbox (`MESSENGER_*` settings)."""

    name = MESSENGER.name
    label = Label(ja="Messenger", en="Messenger")
    settings_type = MessengerSettings
    surface = MESSENGER

    def commands(self, serve: ServeApp) -> click.Group:
        """`tsunagu messenger simulate` (`--instagram` for an Instagram customer)."""
        from channels.messenger.cli import messenger_commands

        return messenger_commands(serve)


class InstagramPlugin(MetaPlugin[InstagramSettings]):
    """An Instagram professional account's Direct inbox (`INSTAGRAM_*` settings)."""

    name = INSTAGRAM.name
    label = Label(ja="Instagram", en="Instagram")
    settings_type = InstagramSettings
    surface = INSTAGRAM

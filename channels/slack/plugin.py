"""The Slack channel (and agents' desk) as the registry knows it."""

from __future__ import annotations

import json
import uuid

from redis.asyncio import Redis

from bot.channel_catalog import Label
from bot.storage import Keys
from channels.base import ChannelParts, ChannelPlugin, FakePlatform, RunningChannel
from channels.slack.keys import SlackKeys
from channels.slack.settings import NAME, SlackSettings


class SlackPlugin(ChannelPlugin[SlackSettings]):
    """One Slack workspace: customers' direct messages, and the desk (`SLACK_*` settings)."""

    name = NAME
    label = Label(ja="Slack", en="Slack")
    settings_type = SlackSettings

    def build(self, settings: SlackSettings, parts: ChannelParts) -> RunningChannel:
        """The events route, the sender and the desk of one Slack app."""
        from channels.slack.adapter import SlackChannel

        return SlackChannel(parts, settings)

    async def customer_keys(self, redis: Redis, keys: Keys, customer_key: str) -> list[str]:
        """A Slack customer's cached name, and the desk's index entries of any customer's
        escalation threads and low-score alerts."""
        slack = SlackKeys(keys)
        channel, _, user_id = customer_key.partition(":")
        doomed = [slack.user(user_id)] if channel == NAME else []
        async for key in redis.scan_iter(match=slack.thread_pattern(), count=1000):
            raw = await redis.get(key)
            try:
                owner = json.loads(raw).get("customer_key") if raw else None
            except (ValueError, AttributeError):
                owner = None
            if owner == customer_key:
                doomed.append(str(key))
        return doomed

    async def start_fake_platform(self) -> FakePlatform:
        """The fake Slack workspace (`channels.slack.fake_platform`) on a loopback port."""
        from channels.slack.fake_platform import FakeSlack

        fake = FakeSlack(f"secret-{uuid.uuid4().hex}")
        await fake.start()
        return fake


CHANNEL = SlackPlugin()

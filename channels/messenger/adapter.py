"""Messenger and Instagram Direct as the app sees each: routes, sender, start and stop.

One implementation serves both (`Surface` says which): the same webhooks and Send API.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.inbox import Inbox
from bot.model import Inbound
from bot.storage import Keys
from channels.base import ChannelDefaults
from channels.messenger.client import SendApi
from channels.messenger.events import MetaEvent
from channels.messenger.keys import MetaKeys
from channels.messenger.profiles import Profiles
from channels.messenger.sender import MetaSender
from channels.messenger.settings import MetaAccount
from channels.messenger.surface import Surface
from channels.messenger.webhook import build_router
from channels.messenger.window import LastMessages

log = logging.getLogger("tsunagu.messenger")


class MetaChannel(ChannelDefaults):
    """A Facebook Page on Messenger, or an Instagram professional account (their
    customers' agents work in the console or in Slack: no desk of its own)."""

    def __init__(
        self,
        surface: Surface,
        account: MetaAccount,
        inbox: Inbox,
        redis: Redis,
        keys: Keys,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.name = surface.name
        self.surface = surface
        self.account = account
        self.inbox = inbox
        self.clock = clock
        self.keys = MetaKeys(keys, surface.name)
        self.last_messages = LastMessages(redis, self.keys)
        self.api = SendApi(account)
        self.profiles = Profiles(surface, self.api, redis, self.keys)
        self.sender = MetaSender(
            surface, self.api, redis, self.keys, self.last_messages, clock=clock
        )
        self.router = build_router(surface, account, self.handle_events)

    async def start(self) -> None:
        """Open the Send API client."""
        await self.api.open()

    async def stop(self) -> None:
        """Cancel profile lookups; close the Send API client."""
        await self.profiles.close()
        await self.api.close()

    async def handle_events(self, events: list[MetaEvent]) -> None:
        """Put a webhook's customer events in the inbox, in order; raises if Redis is down.

        Each opens (or keeps open) the customer's messaging window first, from Meta's time
        of the message (never later than now), so a reply to it is sent as one.
        """
        if not events:
            return
        now = self.clock.now()
        users = list(dict.fromkeys(event.user_id for event in events))
        timeout = self.account.profile_timeout_seconds
        names = await asyncio.gather(*(self.profiles.name(user, timeout) for user in users))
        name_of = dict(zip(users, names, strict=True))
        for event in events:
            at = min(event.sent_at, now) if event.sent_at is not None else now
            await self.last_messages.record(event.user_id, at)
            await self.inbox.put(self.inbound(event, now, name_of.get(event.user_id)))

    def inbound(self, event: MetaEvent, now: float, name: str | None = None) -> Inbound:
        """The inbox event of one webhook event."""
        return Inbound(
            event_id=event.event_id,
            channel=self.name,
            user_id=event.user_id,
            kind=event.kind,
            text=event.text,
            payload=event.payload,
            received_at=event.sent_at if event.sent_at is not None else now,
            display_name=name,
            meta={"account": event.account_id},
        )

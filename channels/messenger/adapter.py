"""Messenger and Instagram Direct as the app sees each: routes, sender, start and stop.

One implementation serves both (`Surface` says which): the same webhooks and Send API.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.clock import SYSTEM_CLOCK, Clock
from bot.inbox import Inbox
from bot.model import Inbound
from bot.storage import Keys
from channels.base import ChannelDefaults
from channels.messenger.attendant import MetaAttendant
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
        # In the worker, before each customer event is decided: the customer's window
        # again (from the event), and their name.
        self.attendant = MetaAttendant(
            redis, self.last_messages, self.profiles, account.profile_timeout_seconds
        )
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

        Each customer's messaging window opens (or stays open) from Meta's time of their
        latest message here (never later than now), so a reply to it is sent as one, even
        by an agent before the worker has handled it. The window records ride in the inbox
        write's pipeline: one Redis round trip for the whole webhook on one server, and no
        call to Meta before the 200. The worker records each event's window again (a
        failover may lose this record but not the event) and looks the customer's name
        up: `channels.messenger.attendant`.
        """
        if not events:
            return
        now = self.clock.now()
        latest: dict[str, float] = {}
        for event in events:
            at = event_time(event, now)
            latest[event.user_id] = max(at, latest.get(event.user_id, at))

        def open_windows(pipe: Pipeline) -> None:
            for user_id, at in latest.items():
                self.last_messages.queue_record(pipe, user_id, at)

        await self.inbox.put_all([self.inbound(event, now) for event in events], also=open_windows)

    def inbound(self, event: MetaEvent, now: float) -> Inbound:
        """The inbox event of one webhook event (the customer's name is the worker's to
        fill in). Its `received_at` is the time its window is counted from."""
        return Inbound(
            event_id=event.event_id,
            channel=self.name,
            user_id=event.user_id,
            kind=event.kind,
            text=event.text,
            payload=event.payload,
            received_at=event_time(event, now),
            meta={"account": event.account_id},
        )


def event_time(event: MetaEvent, now: float) -> float:
    """When the customer wrote, as their messaging window counts it: Meta's time of the
    event, never later than `now` (the webhook's time of it), so a clock ahead of ours
    opens no window past the one Meta counts."""
    return min(event.sent_at, now) if event.sent_at is not None else now

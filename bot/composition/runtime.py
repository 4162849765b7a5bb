"""The runtime: builds every part from the settings and runs the background work.

With the rest of `bot.composition`, the one place of `bot` that imports `channels` and
`handoff`; everything else in `bot` knows them only through the small protocols of
`bot.ports`. Channels come from the registry (`channels.registry`): each configured one is
built, its sender registered, its desk told of escalations, started and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis

from bot.archive import ConversationArchive, masked
from bot.clock import SYSTEM_CLOCK, Clock
from bot.delivery import Delivery
from bot.dispatcher import Dispatcher
from bot.faq import FaqLibrary
from bot.flow import Flow
from bot.forget import Forgotten, forget_customer
from bot.identity import Linking
from bot.inbox import Inbox
from bot.inbox_worker import InboxWorker
from bot.outbound import OutboundRetries, RetryPolicy
from bot.ports import Desk, PanelSource, ReadReceipts
from bot.privacy.audit import AuditLog
from bot.privacy.records import masked_record
from bot.records import RecordStore
from bot.settings import Settings
from bot.storage import Keys, connect_with
from bot.store.conversations import RedisConversationStore
from bot.survey_webhook import SurveyWebhook
from bot.texts import Texts
from bot.timers import Timers, TimerSweeper
from channels.base import RunningChannel
from channels.registry import channel_catalog, registered_channels
from handoff.agents import AgentActions
from handoff.console import AgentConsole
from handoff.queue import RedisHandoffQueue

log = logging.getLogger("tsunagu")


class Runtime:
    """Every long-lived part of one Tsunagu process, wired together."""

    def __init__(
        self, settings: Settings, redis: Redis | None = None, *, clock: Clock = SYSTEM_CLOCK
    ):
        self.settings = settings
        self.clock = clock  # every part that acts on the time of day reads this one
        self.redis = redis if redis is not None else connect_with(settings)
        self.keys = Keys(settings.key_prefix, settings.inbox_partitions)
        self.faq = FaqLibrary(settings.faq_dir, settings.match_settings())
        self.texts = Texts.from_file(settings.texts_file, shop=settings.shop_name)
        self.inbox = Inbox(self.redis, self.keys, settings.inbox_partitions)
        self.store = RedisConversationStore(
            self.redis,
            self.keys,
            ttl_seconds=settings.conversation_ttl_seconds,
            dedupe_ttl_seconds=settings.dedupe_ttl_seconds,
            ttl_without_reply_seconds=settings.conversation_ttl_without_reply_seconds,
        )
        self.queue = RedisHandoffQueue(self.redis, self.keys)
        self.records = RecordStore(
            self.redis,
            self.keys,
            retention_days=settings.records_retention_days,
            max_entries=settings.records_max_entries,
            clock=clock,
            shown=masked_record if settings.pii_mask_reports else None,
        )
        self.audit = AuditLog(
            self.redis, self.keys, retention_days=settings.audit_retention_days, clock=clock
        )
        self.timers = Timers(self.redis, self.keys)
        self.archive = ConversationArchive(
            self.redis,
            self.keys,
            self.store,
            self.records,
            retention_days=settings.records_retention_days,
            clock=clock,
            shown=masked if settings.pii_mask_reports else None,
        )
        self.linking = Linking(self.redis, self.keys, self.store, clock=clock)
        self.flow = Flow(
            self.faq,
            self.texts,
            self.queue,
            settings.flow_config(),
            clock=clock,
            linking=self.linking,
        )
        self.catalog = channel_catalog()
        self.outbound = OutboundRetries(
            self.redis,
            self.keys,
            RetryPolicy(give_up_seconds=settings.outbound_retry_seconds),
        )
        self.delivery = Delivery(self.outbound, clock=clock.now)
        # Channels' figures for /admin and `tsunagu report`, and those that can tell a
        # customer a person has read their messages (filled as the channels are built).
        self.panels: list[PanelSource] = []
        self.read_receipts: list[ReadReceipts] = []
        self.survey_webhook = (
            SurveyWebhook(settings.survey_webhook_url, settings.survey_webhook_secret)
            if settings.survey_webhook_url
            else None
        )
        self.dispatcher = Dispatcher(
            self.store,
            self.flow,
            self.delivery,
            self.queue,
            self.records,
            self.timers,
            survey_webhook=self.survey_webhook,
            identities=self.linking.identities,
            archive=self.archive,
        )
        self.agents = AgentActions(
            self.store,
            self.dispatcher,
            self.flow,
            self.redis,
            pending_key=self.keys.agent_actions_pending(),
        )
        self.console = AgentConsole(self)
        self.dispatcher.desks.append(self.console)
        # The configured channels, in registry order: the platforms customers write on.
        self.channels: dict[str, RunningChannel] = {}
        self._customer_desks: list[Desk] = []
        for plugin in registered_channels():
            channel_settings = plugin.settings_from(settings)
            if channel_settings.enabled:
                self.add_channel(plugin.build(channel_settings, self))
        self.delivery.desks = self.dispatcher.desks  # told of an agent's undelivered reply
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def add_channel(self, channel: RunningChannel) -> None:
        """Run `channel` in this runtime: its replies go through its sender, its desks hear
        of escalations, its panel and read receipts are offered. Call before `start` (and
        mount its router in the app)."""
        self.channels[channel.name] = channel
        self.delivery.register(channel.sender)
        desks = self.dispatcher.desks
        if channel.agent_desk is not None:
            # Agents' desks are told before what follows them for the customer's sake
            # (switching a LINE menu may wait on LINE).
            desks.insert(len(desks) - len(self._customer_desks), channel.agent_desk)
        if channel.customer_desk is not None:
            desks.append(channel.customer_desk)
            self._customer_desks.append(channel.customer_desk)
        if channel.panel is not None:
            self.panels.append(channel.panel)
        if channel.read_receipts is not None:
            self.read_receipts.append(channel.read_receipts)
        if channel.attendant is not None:
            self.dispatcher.attendants[channel.name] = channel.attendant

    def channel(self, name: str) -> RunningChannel:
        """The running channel called `name` (KeyError when it is not configured)."""
        return self.channels[name]

    async def forget(self, customer_key: str) -> Forgotten:
        """Erase one customer's data, asking every registered channel what it keeps."""
        return await forget_customer(
            self.redis,
            self.keys,
            customer_key,
            customer_data=self.catalog.customer_data,
            settings=self.settings,
        )

    async def start(self, *, run_worker: bool) -> None:
        """Connect, then start the background work: FAQ watcher, listeners, inbox worker."""
        self._stop.clear()
        for channel in self.channels.values():
            await channel.start()
        await self.console.start()
        if self.settings.faq_watch:
            self._tasks.append(asyncio.create_task(self.faq.watch(self._stop)))
        if run_worker:
            self._tasks.append(asyncio.create_task(self.inbox_worker().run(self._stop)))
            sweeper = TimerSweeper(self.timers, self.inbox, clock=self.clock)
            self._tasks.append(asyncio.create_task(sweeper.run(self._stop)))
            for outbound in self.delivery.sweepers():
                self._tasks.append(asyncio.create_task(outbound.run(self._stop)))
            # Agents' actions a crash left committed but not carried out.
            self._tasks.append(asyncio.create_task(self.agents.recover_forever(self._stop)))
        log.info(
            "tsunagu started",
            extra={
                "redis": "embedded" if self.settings.embedded_redis else "external",
                "faq_entries": len(self.faq.entries),
                "worker": run_worker,
            },
        )

    def inbox_worker(self, *, monotonic: Callable[[], float] = time.monotonic) -> InboxWorker:
        """An inbox worker feeding this runtime's dispatcher; its leases are timed by
        `monotonic` (a test's clock can be moved forward)."""
        return InboxWorker(
            self.inbox,
            self.dispatcher.handle,
            max_attempts=self.settings.inbox_max_attempts,
            lease_seconds=self.settings.inbox_lease_seconds,
            monotonic=monotonic,
        )

    async def drain_inbox(self, stop: asyncio.Event | None = None) -> None:
        """Handle every event in the inbox now; return once all are settled (or at `stop`)."""
        await self.inbox_worker().run(stop or asyncio.Event(), burst=True)

    async def stop(self) -> None:
        """Stop background work, letting the worker finish what it has started."""
        self._stop.set()
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*self._tasks, return_exceptions=True), timeout=15
                )
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        for channel in self.channels.values():
            await channel.stop()
        await self.console.stop()
        if self.survey_webhook is not None:
            await self.survey_webhook.close()

    async def wait_stopped(self) -> None:
        """Block until `stop` is called (for the standalone worker)."""
        await self._stop.wait()


@contextlib.asynccontextmanager
async def status_panels(settings: Settings, redis: Redis) -> AsyncIterator[list[PanelSource]]:
    """The panels of the configured channels, for `tsunagu report` (no server running):
    their platform clients are open inside the block."""
    keys = Keys(settings.key_prefix)
    async with contextlib.AsyncExitStack() as stack:
        panels: list[PanelSource] = []
        for plugin in registered_channels():
            channel_settings = plugin.settings_from(settings)
            if channel_settings.enabled:
                panel = await stack.enter_async_context(
                    plugin.report_panel(channel_settings, redis, keys)
                )
                if panel is not None:
                    panels.append(panel)
        yield panels

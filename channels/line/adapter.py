"""The LINE channel as the app factory sees it: routes, sender, start and stop, and the
parts that plug into the core's ports: a desk switching person mode (`person_mode`), read
receipts for the console, and the cost card (`panel`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.inbox import Inbox
from bot.model import Inbound, InboundKind
from bot.storage import Keys
from channels.base import ChannelDefaults
from channels.line.client import LineApi
from channels.line.cost import QuotaReader, SendCounter
from channels.line.events import EventReader, is_redelivery
from channels.line.keys import LineKeys
from channels.line.panel import LineCostPanel, check_bot_info
from channels.line.person_mode import PersonMode, line_user
from channels.line.profiles import Profiles
from channels.line.read_marks import ReadMarks
from channels.line.sender import LineSender
from channels.line.settings import NAME, LineSettings
from channels.line.webhook import build_router

log = logging.getLogger("tsunagu.line")

UNREACHABLE_SECONDS = 30 * 24 * 3600
LATEST_TOKEN_SECONDS = 3600


class LineChannel(ChannelDefaults):
    """A LINE official account: `POST /line/webhook` in, Messaging API out."""

    name = NAME

    def __init__(
        self,
        settings: LineSettings,
        inbox: Inbox,
        redis: Redis,
        keys: Keys,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.settings = settings
        self.inbox = inbox
        self.redis = redis
        self.keys = keys
        self.line_keys = LineKeys(keys)
        self.api = LineApi(settings)
        self.reader = EventReader(settings)
        self.profiles = Profiles(
            self.api, redis, self.line_keys, cache_seconds=settings.profile_cache_seconds
        )
        self.counter = SendCounter(redis, self.line_keys, budget=settings.push_budget, clock=clock)
        self.sender = LineSender(
            self.api,
            redis,
            self.line_keys,
            settings,
            on_unreachable=self._unreachable,
            clock=clock,
            counter=self.counter,
        )
        self.reads = ReadMarks(self.api, redis, self.line_keys)
        self.person_mode = PersonMode(self.api, settings, self.reads)
        # Told of desk events after the agents' desks: it switches the customer's menu.
        self.customer_desk = self.person_mode
        self.read_receipts = self
        quota = QuotaReader(
            self.api, redis, self.line_keys, refresh_seconds=settings.quota_refresh_seconds
        )
        self.panel = LineCostPanel(self.counter, quota, redis, self.line_keys, clock=clock)
        self.router = build_router(settings, self.api, self.handle_events)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the Messaging API client, check the account's chat settings (a warning in
        the log when customers would get two answers) and make the bot-mode rich menu the
        default when one is configured."""
        await self.api.open()
        await check_bot_info(self.api, self.redis, self.line_keys)
        menu = self.settings.bot_menu
        if menu is not None:
            try:
                await self.api.set_default_rich_menu(menu)
            except Exception as exc:
                log.warning(
                    "line: bot-mode rich menu not made the default (check LINE_RICH_MENU_BOT)",
                    extra={"menu": menu, "error": repr(exc)[:200]},
                )

    async def seen_by_agent(self, customer_key: str) -> None:
        """An agent opened the conversation: mark the customer's messages read, in the
        background (`bot.ports.ReadReceipts`)."""
        user_id = line_user(customer_key)
        if user_id is not None:
            self._spawn(self.reads.mark_read(user_id))

    async def stop(self) -> None:
        """Cancel pending loading animations and profile lookups; close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.profiles.close()
        await self.api.close()

    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        """Turn a webhook's events into inbox events, in order; raises if Redis is down."""
        inbounds: list[tuple[Inbound, dict[str, Any]]] = []
        for event in events:
            try:
                inbound = self.reader.read(event)
            except Exception as exc:
                # Signed, so from someone with the channel secret, but not as LINE sends it:
                # one line to look into, not a traceback.
                log.warning(
                    "line: unreadable event ignored",
                    extra={"type": str(event.get("type")), "error": repr(exc)[:200]},
                )
                continue
            if inbound is not None:
                inbounds.append((inbound, event))
        if not inbounds:
            return
        users = {inbound.user_id for inbound, _ in inbounds}
        timeout = self.settings.profile_timeout_seconds
        found = await asyncio.gather(*(self.profiles.lookup(u, timeout) for u in users))
        profiles = dict(zip(users, found, strict=True))
        for inbound, event in inbounds:
            profile = profiles.get(inbound.user_id)
            if profile is not None:
                inbound.locale = inbound.locale or profile.language
                inbound.display_name = inbound.display_name or profile.display_name
            await self._mark_reachable(inbound)
            await self._keep_tokens(inbound, event)
            await self.inbox.put(inbound)
            if self._may_need_loading(inbound, event):
                self._spawn(self._loading_unless_answered(inbound))

    async def _mark_reachable(self, inbound: Inbound) -> None:
        key = self.line_keys.unreachable(inbound.user_id)
        if inbound.kind is InboundKind.UNFOLLOW:
            await self.redis.set(key, "unfollowed", ex=UNREACHABLE_SECONDS)
        else:
            await self.redis.delete(key)

    async def _keep_tokens(self, inbound: Inbound, event: dict[str, Any]) -> None:
        """Keep what a later send or an agent may use: the reply token of a one-to-one
        event (for an agent's reply while it is fresh) and the read token of a message."""
        if inbound.meta.get("to") != inbound.user_id:
            return  # a group or room: tokens there are not the customer's own chat
        token = inbound.meta.get("reply_token")
        if token is not None and "redelivery" not in inbound.meta:
            key = self.line_keys.latest_reply_token(inbound.user_id)
            await self.redis.hset(
                key, mapping={"token": token, "at": inbound.meta["reply_token_at"]}
            )
            await self.redis.expire(key, LATEST_TOKEN_SECONDS)
        await self.reads.keep(inbound.user_id, event)

    def _may_need_loading(self, inbound: Inbound, event: dict[str, Any]) -> bool:
        return (
            inbound.kind in (InboundKind.TEXT, InboundKind.CHOICE, InboundKind.MEDIA)
            and "reply_token" in inbound.meta
            and inbound.meta.get("to") == inbound.user_id  # one-to-one chats only
            and not is_redelivery(event)
        )

    async def _loading_unless_answered(self, inbound: Inbound) -> None:
        """After a moment with no answer, show the loading animation while the bot works."""
        await asyncio.sleep(self.settings.loading_after_seconds)
        token = inbound.meta["reply_token"]
        answered = await self.redis.exists(
            self.line_keys.reply_token(token),
            self.keys.event(inbound.customer_key, inbound.event_id),
        )
        if answered:
            return
        try:
            await self.api.show_loading(inbound.user_id, self.settings.loading_seconds)
        except Exception as exc:
            log.info("line: loading animation not shown", extra={"error": repr(exc)})

    async def _unreachable(self, user_id: str, call_id: str, reason: str) -> None:
        """A user we can never send to: stop sending and close their conversation."""
        key = self.line_keys.unreachable(user_id)
        await self.redis.set(key, reason[:200], ex=UNREACHABLE_SECONDS)
        await self.inbox.put(
            Inbound(
                event_id=f"line:unreachable:{call_id}",
                channel=NAME,
                user_id=user_id,
                kind=InboundKind.UNFOLLOW,
                meta={"reason": reason[:200]},
            )
        )

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if task.exception() is not None:
            log.warning("line: background task failed", extra={"error": repr(task.exception())})

"""The LINE channel as the app factory sees it: routes, sender, start and stop, and the
parts that plug into the core's ports: a desk switching person mode (`person_mode`), read
receipts for the console, and the cost card (`panel`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.clock import SYSTEM_CLOCK, Clock
from bot.direct_routes import plain_routes
from bot.inbox import Inbox
from bot.model import Inbound, InboundKind
from bot.storage import Keys
from channels.base import ChannelDefaults
from channels.line.attendant import UNREACHABLE_SECONDS, LineAttendant
from channels.line.client import LineApi
from channels.line.cost import QuotaReader, SendCounter
from channels.line.events import EventReader
from channels.line.keys import LineKeys
from channels.line.panel import LineCostPanel, check_bot_info
from channels.line.person_mode import PersonMode, line_user
from channels.line.profiles import Profiles
from channels.line.read_marks import ReadMarks
from channels.line.sender import LineSender
from channels.line.settings import NAME, LineSettings
from channels.line.webhook import build_router

log = logging.getLogger("tsunagu.line")

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
        self.line_attendant = LineAttendant(
            self.api, redis, self.line_keys, self.profiles, settings
        )
        self.attendant = self.line_attendant
        self.router = build_router(settings, self.api, self.handle_events)
        # The webhook takes every customer message: served ahead of the app's routing.
        self.direct_routes = plain_routes(self.router.routes, [settings.webhook_path])
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
        await self.line_attendant.close()
        await self.profiles.close()
        await self.api.close()

    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        """Turn a webhook's events into inbox events, in order; raises if Redis is down.

        Nothing else happens before LINE gets its 200 but keeping the events' tokens, in
        the same round trip as the events: the worker looks the profile up and shows the
        loading animation (`channels.line.attendant`)."""
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

        def keep_tokens(pipe: Pipeline) -> None:
            for inbound, event in inbounds:
                self._keep_tokens(pipe, inbound, event)

        await self.inbox.put_all([inbound for inbound, _ in inbounds], also=keep_tokens)

    def _keep_tokens(self, pipe: Pipeline, inbound: Inbound, event: dict[str, Any]) -> None:
        """Keep what a later send or an agent may use: the reply token of a one-to-one
        event (for an agent's reply while it is fresh) and the read token of a message."""
        if inbound.meta.get("to") != inbound.user_id:
            return  # a group or room: tokens there are not the customer's own chat
        token = inbound.meta.get("reply_token")
        if token is not None and "redelivery" not in inbound.meta:
            key = self.line_keys.latest_reply_token(inbound.user_id)
            pipe.hset(key, mapping={"token": token, "at": inbound.meta["reply_token_at"]})
            pipe.expire(key, LATEST_TOKEN_SECONDS)
        self.reads.keep(pipe, inbound.user_id, event)

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

"""The LINE channel's part in handling its customers' events, in the inbox worker.

The webhook only verifies, reads and stores events (no outbound call delays LINE's 200).
What needs LINE or more of Redis happens here, around the dispatcher's handling of each
customer event:

- the customer is reachable again when they write (set unreachable when they block us),
  and their cached profile (language, display name) is read, in one Redis round trip; on a
  cache miss the profile is asked of LINE only when the answer's language may come from
  it: the event's own words tell none (a tap, a sticker, a follow, "5"). The wait is at
  most `LINE_PROFILE_TIMEOUT_SECONDS` (a late answer still fills the cache);
- the display name alone is asked for when agents are first told of the conversation
  (`display_name`, from the dispatcher), so a customer the bot answers costs no look-up;
- LINE's loading animation is shown when the answer has not been sent
  `LINE_LOADING_AFTER_SECONDS` after the event (at once for an event that waited longer in
  the inbox), and not at all once it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from bot.intents import typed_language
from bot.model import Inbound, InboundKind
from channels.line.client import LineApi
from channels.line.keys import LineKeys
from channels.line.profiles import Profiles, parse_profile
from channels.line.settings import LineSettings

log = logging.getLogger("tsunagu.line")

UNREACHABLE_SECONDS = 30 * 24 * 3600
# What a customer does; timers and agents' actions are handled without the customer.
_CUSTOMER_KINDS = {
    InboundKind.TEXT,
    InboundKind.CHOICE,
    InboundKind.MEDIA,
    InboundKind.FOLLOW,
    InboundKind.UNFOLLOW,
}
_MAY_SHOW_LOADING = {InboundKind.TEXT, InboundKind.CHOICE, InboundKind.MEDIA}


class LineAttendant:
    """The `bot.ports.Attendant` of the LINE channel."""

    def __init__(
        self,
        api: LineApi,
        redis: Redis,
        keys: LineKeys,
        profiles: Profiles,
        settings: LineSettings,
    ):
        self.api = api
        self.redis = redis
        self.keys = keys
        self.profiles = profiles
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def attend(self, inbound: Inbound) -> AsyncIterator[None]:
        """Around deciding one event and sending its replies: fills in the customer's
        language and name, shows the loading animation while the answer takes time."""
        if inbound.kind not in _CUSTOMER_KINDS:
            yield
            return
        loading = self._loading_later(inbound) if _may_show_loading(inbound) else None
        try:
            await self._reachable_with_profile(inbound)
            yield
        finally:
            if loading is not None:
                loading.cancel()  # answered (or failed) in time: no animation

    async def _reachable_with_profile(self, inbound: Inbound) -> None:
        user_id = inbound.user_id
        unreachable = self.keys.unreachable(user_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            if inbound.kind is InboundKind.UNFOLLOW:
                # NX: a refused send may have set it already, with its reason.
                pipe.set(unreachable, "unfollowed", ex=UNREACHABLE_SECONDS, nx=True)
            else:
                pipe.delete(unreachable)
            pipe.get(self.keys.profile(user_id))
            _, cached = await pipe.execute()
        if inbound.kind is InboundKind.UNFOLLOW:
            return
        profile = parse_profile(cached) if cached is not None else None
        if profile is None and typed_language(inbound) is None:
            # Only then may the answer's language be the profile's (`bot.flow.turn_language`);
            # the name waits until an agent needs it (`display_name`).
            profile = await self.profiles.fetch(user_id, self.settings.profile_timeout_seconds)
        if profile is not None:
            inbound.locale = inbound.locale or profile.language
            inbound.display_name = inbound.display_name or profile.display_name

    async def display_name(self, user_id: str) -> str | None:
        """The customer's LINE display name, from the cache or else from LINE (waited for
        at most `LINE_PROFILE_TIMEOUT_SECONDS`, then cached as every look-up is)."""
        profile = await self.profiles.cached(user_id)
        if profile is None:
            profile = await self.profiles.fetch(user_id, self.settings.profile_timeout_seconds)
        return profile.display_name if profile is not None else None

    def _loading_later(self, inbound: Inbound) -> asyncio.TimerHandle:
        # The event's age is a duration between LINE and us: the system clock measures it.
        waited = max(0.0, time.time() - inbound.received_at)
        delay = max(0.0, self.settings.loading_after_seconds - waited)
        loop = asyncio.get_running_loop()
        return loop.call_later(delay, self._spawn_loading, inbound.user_id)

    def _spawn_loading(self, user_id: str) -> None:
        task = asyncio.create_task(self._show_loading(user_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _show_loading(self, user_id: str) -> None:
        try:
            await self.api.show_loading(user_id, self.settings.loading_seconds)
        except Exception as exc:
            log.info("line: loading animation not shown", extra={"error": repr(exc)})

    async def close(self) -> None:
        """Cancel animations still being requested."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _may_show_loading(inbound: Inbound) -> bool:
    return (
        inbound.kind in _MAY_SHOW_LOADING
        and "reply_token" in inbound.meta
        and inbound.meta.get("to") == inbound.user_id  # one-to-one chats only
        and "redelivery" not in inbound.meta
    )

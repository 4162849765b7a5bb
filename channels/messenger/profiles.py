"""Customers' names from Meta's User Profile API, cached in Redis, for the agents to see.

The webhook never waits long for one: a name that comes later than the timeout is cached
for the customer's next message. A profile Meta will not give (no permission for it, a
customer who hides it) is remembered as unknown for an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from redis.asyncio import Redis

from channels.messenger.client import GraphError, SendApi
from channels.messenger.keys import MetaKeys
from channels.messenger.surface import Surface, display_name

log = logging.getLogger("tsunagu.messenger")

UNKNOWN_SECONDS = 3600
CACHE_SECONDS = 24 * 3600


class Profiles:
    """Looks names up without ever making the webhook wait long."""

    def __init__(self, surface: Surface, api: SendApi, redis: Redis, keys: MetaKeys):
        self.surface = surface
        self.api = api
        self.redis = redis
        self.keys = keys
        self._fetching: dict[str, asyncio.Task[str | None]] = {}

    async def name(self, user_id: str, timeout: float) -> str | None:
        """The customer's name from the cache, else from Meta if it answers in `timeout`."""
        cached = await self.redis.get(self.keys.profile(user_id))
        if cached is not None:
            return str(cached) or None
        task = self._fetching.get(user_id)
        if task is None:
            task = asyncio.create_task(self._fetch(user_id))
            self._fetching[user_id] = task
            task.add_done_callback(lambda _: self._fetching.pop(user_id, None))
        if timeout <= 0:
            return None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        return None

    async def _fetch(self, user_id: str) -> str | None:
        try:
            name = display_name(await self.api.profile(user_id, self.surface.profile_fields))
            ttl = CACHE_SECONDS if name else UNKNOWN_SECONDS
        except GraphError as exc:
            if exc.status >= 500:
                return None  # try again with the next message
            log.info("%s: no profile", self.surface.name, extra={"error": str(exc)[:200]})
            name, ttl = None, UNKNOWN_SECONDS
        except (httpx.HTTPError, OSError, ValueError) as exc:
            log.warning("%s: profile lookup failed", self.surface.name, extra={"error": repr(exc)})
            return None
        with contextlib.suppress(Exception):
            await self.redis.set(self.keys.profile(user_id), name or "", ex=ttl)
        return name

    async def close(self) -> None:
        """Cancel lookups still running."""
        for task in list(self._fetching.values()):
            task.cancel()
        await asyncio.gather(*self._fetching.values(), return_exceptions=True)
        self._fetching.clear()

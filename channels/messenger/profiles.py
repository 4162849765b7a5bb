"""Customers' names from Meta's User Profile API, cached in Redis, for the agents to see.

Looked up in the worker (`channels.messenger.attendant`), never in the webhook, and never
waited for long: a name that comes later than the timeout is cached for the customer's
next message. A profile Meta will not give (no permission for it, a
customer who hides it) is remembered as unknown for an hour.
"""

from __future__ import annotations

import contextlib
import logging

import httpx
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.single_flight import SingleFlight
from channels.messenger.client import GraphError, SendApi
from channels.messenger.keys import MetaKeys
from channels.messenger.surface import Surface, display_name

log = logging.getLogger("tsunagu.messenger")

UNKNOWN_SECONDS = 3600
CACHE_SECONDS = 24 * 3600


class Profiles:
    """Looks names up without ever making a customer's answer wait long."""

    def __init__(self, surface: Surface, api: SendApi, redis: Redis, keys: MetaKeys):
        self.surface = surface
        self.api = api
        self.redis = redis
        self.keys = keys
        self._fetching: SingleFlight[str | None] = SingleFlight()

    async def name(self, user_id: str, timeout: float) -> str | None:
        """The customer's name from the cache, else from Meta if it answers in `timeout`."""
        cached = await self.redis.get(self.keys.profile(user_id))
        return await self.name_after_cache(user_id, cached, timeout)

    def queue_cached(self, pipe: Pipeline, user_id: str) -> None:
        """The cache read of `name`, queued on a caller's pipeline (its answer is for
        `name_after_cache`)."""
        pipe.get(self.keys.profile(user_id))

    async def name_after_cache(
        self, user_id: str, cached: str | bytes | None, timeout: float
    ) -> str | None:
        """`name`, once the cache answered `cached`: Meta is asked only on a miss."""
        if cached is not None:
            return str(cached) or None
        return await self._fetching.wait(user_id, lambda: self._fetch(user_id), timeout)

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
        await self._fetching.close()

"""Customers' LINE profiles (language, display name), cached in Redis."""

from __future__ import annotations

import contextlib
import json
import logging

from linebot.v3.messaging import ApiException
from redis.asyncio import Redis

from bot.single_flight import SingleFlight
from channels.line.client import LineApi, Profile
from channels.line.keys import LineKeys

log = logging.getLogger("tsunagu.line")

UNKNOWN_PROFILE_SECONDS = 3600


def parse_profile(raw: str | bytes) -> Profile:
    """A profile as the cache keeps it."""
    data = json.loads(raw)
    return Profile(display_name=data.get("display_name"), language=data.get("language"))


class Profiles:
    """Looks profiles up without ever making the customer wait long."""

    def __init__(self, api: LineApi, redis: Redis, keys: LineKeys, *, cache_seconds: int):
        self.api = api
        self.redis = redis
        self.keys = keys
        self.cache_seconds = cache_seconds
        self._fetching: SingleFlight[Profile | None] = SingleFlight()

    async def cached(self, user_id: str) -> Profile | None:
        """The cached profile, if any."""
        raw = await self.redis.get(self.keys.profile(user_id))
        return parse_profile(raw) if raw is not None else None

    async def fetch(self, user_id: str, timeout: float) -> Profile | None:
        """The profile from LINE if it answers within `timeout` (the cache missed).

        A late answer still fills the cache for the customer's next message.
        """
        return await self._fetching.wait(user_id, lambda: self._fetch(user_id), timeout)

    async def _fetch(self, user_id: str) -> Profile | None:
        try:
            profile = await self.api.profile(user_id)
            ttl = self.cache_seconds
        except ApiException as exc:
            if exc.status != 404:
                log.warning("line: profile lookup failed", extra={"status": exc.status})
                return None
            profile, ttl = Profile(), UNKNOWN_PROFILE_SECONDS  # not a friend (yet)
        except Exception as exc:
            log.warning("line: profile lookup failed", extra={"error": repr(exc)})
            return None
        data = {"display_name": profile.display_name, "language": profile.language}
        with contextlib.suppress(Exception):
            await self.redis.set(self.keys.profile(user_id), json.dumps(data), ex=ttl)
        return profile

    async def close(self) -> None:
        """Cancel lookups still running."""
        await self._fetching.close()

"""Slack users' display names (agents' names shown to customers), cached in Redis."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.keys import SlackKeys

log = logging.getLogger("tsunagu.slack")


class SlackUsers:
    """Looks names up with `users.info` once per user and cache period."""

    def __init__(self, client: AsyncWebClient, redis: Redis, key_prefix: str, ttl_seconds: int):
        self._client = client
        self._redis = redis
        self._keys = SlackKeys.of(key_prefix)
        self._ttl = ttl_seconds

    async def name_of(self, user_id: str) -> str:
        """The user's display name (or real name, or handle); the id if Slack can't say."""
        key = self._keys.user(user_id)
        cached = await self._redis.get(key)
        if cached:
            return str(cached)
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info failed", extra={"user": user_id, "error": str(exc)})
            return user_id
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        await self._redis.set(key, name, ex=self._ttl)
        return str(name)

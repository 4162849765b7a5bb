"""既読 when a person has read it: the customer's messages are marked read only when an agent
opens or claims their conversation, not when the bot receives them.

Each message event carries a `markAsReadToken` (it does not expire); the latest one is kept
per customer and spent on `POST /v2/bot/chat/markAsRead`, which marks that message and
every earlier one read. LINE honours it only while the account's chat is on (otherwise it
marks everything read at once by itself).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from channels.line.client import LineApi
from channels.line.keys import LineKeys

log = logging.getLogger("tsunagu.line")

READ_TOKEN_SECONDS = 30 * 24 * 3600


class ReadMarks:
    """Keeps each customer's latest read token and spends it when a person reads."""

    def __init__(self, api: LineApi, redis: Redis, keys: LineKeys):
        self.api = api
        self.redis = redis
        self.keys = keys

    def keep(self, pipe: Pipeline, user_id: str, event: dict[str, Any]) -> None:
        """Remember the read token of a message event (events without one change nothing),
        queued on `pipe` with the event's other writes."""
        token = (event.get("message") or {}).get("markAsReadToken")
        if isinstance(token, str) and token:
            pipe.set(self.keys.read_token(user_id), token, ex=READ_TOKEN_SECONDS)

    async def mark_read(self, user_id: str) -> bool:
        """Mark the customer's messages read up to their latest; True if LINE was asked.
        A failure is logged, never raised: the 既読 is a courtesy, not part of the answer."""
        key = self.keys.read_token(user_id)
        token = await self.redis.getdel(key)
        if token is None:
            return False  # nothing new since the last mark
        try:
            await self.api.mark_read(str(token))
        except Exception as exc:
            log.warning("line: messages not marked read", extra={"error": repr(exc)[:200]})
            # Keep it for the next agent who opens the conversation, unless a newer came.
            await self.redis.set(key, token, ex=READ_TOKEN_SECONDS, nx=True)
            return False
        return True

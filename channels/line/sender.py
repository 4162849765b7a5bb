"""Delivers replies on LINE: by reply token while it is fresh, else by push, exactly once.

- Every API call's messages get a Redis marker once delivered, so a batch re-sent after a
  crash skips what already went out.
- A reply token is taken with SET NX before use: a token works once, and a second try goes
  by push instead.
- A push carries `X-Line-Retry-Key`, derived from the messages' ids, so LINE itself drops a
  push we repeat after a timeout (it answers 409).
- 429, 5xx and network errors are retried with backoff for a bounded time, then raised so
  the inbox retries the event later; other tasks (other customers) run meanwhile. A 4xx
  that can never succeed (the user blocked the account) is logged once and the
  conversation is closed through `on_unreachable`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from linebot.v3.messaging import ApiException, TextMessage
from redis.asyncio import Redis

from bot.model import Channel, Outgoing
from channels.line.client import LineApi
from channels.line.keys import LineKeys
from channels.line.render import calls, render
from channels.line.settings import LineSettings

log = logging.getLogger("tsunagu.line")

RETRY_KEY_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-5b7e-9c3a-2e4f6a8b0c1d")
MARKER_SECONDS = 7 * 24 * 3600
TOKEN_MARKER_SECONDS = 24 * 3600
Unreachable = Callable[[str, str, str], Awaitable[None]]


class LineUnavailable(Exception):
    """LINE kept failing for the whole retry window; the event will be retried later."""


class LineSender:
    """The `bot.ports.Sender` of the LINE channel."""

    channel = Channel.LINE

    def __init__(
        self,
        api: LineApi,
        redis: Redis,
        keys: LineKeys,
        settings: LineSettings,
        on_unreachable: Unreachable | None = None,
    ):
        self.api = api
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.on_unreachable = on_unreachable

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver one event's replies (in order) to one customer."""
        if not batch:
            return
        first = batch[0]
        user_id, meta = first.user_id, first.meta
        if await self.redis.exists(self.keys.unreachable(user_id)):
            log.info("line: customer unreachable, nothing sent", extra={"user": user_id})
            return
        messages: list[tuple[str, TextMessage]] = [
            (f"{outgoing.message_id}.{n}", message)
            for outgoing in batch
            for n, message in enumerate(render(outgoing.reply))
        ]
        token = meta.get("reply_token")
        token_is_ours = token is not None and await self._take_token(token)
        to = meta.get("to") or user_id
        for call in calls(messages):
            ids, group = [mid for mid, _ in call], [message for _, message in call]
            call_id = hashlib.sha256("|".join(ids).encode()).hexdigest()[:32]
            marker = self.keys.sent(user_id, call_id)
            if await self.redis.exists(marker):
                continue
            replied = False
            if token_is_ours and token is not None and self._fresh(meta):
                replied = await self._reply(token, group)
            token_is_ours = False  # one call per token, whatever happened
            if not replied and not await self._push(to, user_id, group, call_id):
                return  # never deliverable: logged, conversation closed
            await self.redis.set(marker, "1", ex=MARKER_SECONDS)

    async def _take_token(self, token: str) -> bool:
        taken = await self.redis.set(
            self.keys.reply_token(token), "1", nx=True, ex=TOKEN_MARKER_SECONDS
        )
        return bool(taken)

    def _fresh(self, meta: dict[str, str]) -> bool:
        try:
            issued = float(meta.get("reply_token_at", "0"))
        except ValueError:
            return False
        return time.time() - issued < self.settings.reply_token_ttl_seconds

    async def _reply(self, token: str, messages: list[TextMessage]) -> bool:
        """True if the reply went out; False means: push instead."""
        try:
            await self.api.reply(token, messages)
            return True
        except ApiException as exc:
            log.info(
                "line: reply token refused, pushing instead",
                extra={"status": exc.status, "body": _body(exc)},
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("line: reply failed, pushing instead", extra={"error": repr(exc)})
        return False

    async def _push(self, to: str, user_id: str, messages: list[TextMessage], call_id: str) -> bool:
        """Push with retries; True when delivered, False when it never can be."""
        retry_key = str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{to}:{call_id}"))
        deadline = time.monotonic() + self.settings.send_retry_seconds
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                await self.api.push(to, messages, retry_key)
                return True
            except ApiException as exc:
                status = exc.status or 0
                if status == 409:
                    return True  # LINE accepted this retry key before: already delivered
                if status == 401:
                    log.error("line: access token refused (check LINE_CHANNEL_ACCESS_TOKEN)")
                    raise
                if status != 429 and status < 500:
                    await self._give_up(to, user_id, call_id, f"{status}: {_body(exc)}")
                    return False
                error = f"HTTP {status}"
                wait = _retry_after(exc)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = repr(exc)
            wait = wait if wait is not None else delay * (0.5 + random.random())
            if time.monotonic() + wait > deadline:
                raise LineUnavailable(f"push failed after {attempt} attempts: {error}")
            log.warning(
                "line: push failed, retrying",
                extra={"error": error, "attempt": attempt, "retry_in": round(wait, 2)},
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, 8.0)

    async def _give_up(self, to: str, user_id: str, call_id: str, reason: str) -> None:
        log.error(
            "line: message can never be delivered; closing the conversation",
            extra={"to": to, "reason": reason},
        )
        if to == user_id and self.on_unreachable is not None:
            await self.on_unreachable(user_id, call_id, reason)


def _body(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    return str(body or exc.reason or "")[:300]


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return min(float(value), 30.0) if value is not None else None
    except ValueError:
        return None

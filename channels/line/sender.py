"""Delivers replies on LINE: by reply token while it is fresh, else by push, exactly once.

- Every API call's messages get a Redis marker once delivered, so a batch re-sent after a
  crash skips what already went out.
- A reply token is taken with SET NX before use, for one API call: a token works once, and
  any other call goes by push. A replay of that very call (a crash came between the reply
  and its marker) uses the token again: LINE refusing it as used means it went out.
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
# Told when messages finally could not be delivered: the batch and why.
Failed = Callable[[list[Outgoing], str], Awaitable[None]]


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
        on_failed: Failed | None = None,
    ):
        self.api = api
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.on_unreachable = on_unreachable
        self.on_failed = on_failed

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver one event's replies (in order) to one customer.

        Raises `LineUnavailable` when LINE kept failing for the whole retry window; then,
        as when LINE refuses them for good, `on_failed` hears of the messages.
        """
        if not batch:
            return
        try:
            delivered = await self._send(batch)
        except Exception as exc:  # LineUnavailable, a refused access token, ...
            await self._failed(batch, str(exc) or type(exc).__name__)
            raise
        if not delivered:
            await self._failed(batch, "LINE refused the messages for good")

    async def _failed(self, batch: list[Outgoing], reason: str) -> None:
        if self.on_failed is None:
            return
        try:
            await self.on_failed(batch, reason)
        except Exception as exc:
            log.error("line: could not report a failed delivery", extra={"error": repr(exc)})

    async def _send(self, batch: list[Outgoing]) -> bool:
        """False when LINE will never take these messages (the user blocked us)."""
        first = batch[0]
        user_id, meta = first.user_id, first.meta
        if await self.redis.exists(self.keys.unreachable(user_id)):
            log.info("line: customer unreachable, nothing sent", extra={"user": user_id})
            return False
        messages: list[tuple[str, TextMessage]] = [
            (f"{outgoing.message_id}.{n}", message)
            for outgoing in batch
            for n, message in enumerate(render(outgoing.reply))
        ]
        token = meta.get("reply_token")
        to = meta.get("to") or user_id
        first_call = True
        for call in calls(messages):
            ids, group = [mid for mid, _ in call], [message for _, message in call]
            call_id = hashlib.sha256("|".join(ids).encode()).hexdigest()[:32]
            marker = self.keys.sent(user_id, call_id)
            if await self.redis.exists(marker):
                first_call = False
                continue
            replied = False
            if first_call and token is not None:
                # One call per token, whatever happens: only the first call may use it.
                taken = await self._take_token(token, call_id)
                if taken is not None and self._fresh(meta):
                    replied = await self._reply(token, group, retrying=not taken)
            first_call = False
            if not replied and not await self._push(to, user_id, group, call_id):
                return False  # never deliverable: logged, conversation closed
            await self.redis.set(marker, "1", ex=MARKER_SECONDS)
        return True

    async def _take_token(self, token: str, call_id: str) -> bool | None:
        """True: the token is ours, for this call. False: this same call took it before
        (a replay after a crash; did that reply go out?). None: not ours to use."""
        key = self.keys.reply_token(token)
        if await self.redis.set(key, call_id, nx=True, ex=TOKEN_MARKER_SECONDS):
            return True
        return False if await self.redis.get(key) == call_id else None

    def _fresh(self, meta: dict[str, str]) -> bool:
        try:
            issued = float(meta.get("reply_token_at", "0"))
        except ValueError:
            return False
        return time.time() - issued < self.settings.reply_token_ttl_seconds

    async def _reply(self, token: str, messages: list[TextMessage], *, retrying: bool) -> bool:
        """True if the reply went out; False means: push instead.

        `retrying`: an earlier attempt took this token for these very messages and then
        crashed, so it is unknown whether LINE got them. Using the token again settles it:
        accepted, they went out now; refused as an invalid token while it is still fresh,
        the earlier attempt used it, so they went out then (a push would say them twice).
        """
        try:
            await self.api.reply(token, messages)
            return True
        except ApiException as exc:
            if retrying and exc.status == 400 and "invalid reply token" in _body(exc).lower():
                log.info("line: reply token used by an earlier attempt: already delivered")
                return True
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

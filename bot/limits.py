"""Limits on what clients may send: a body-size cap and Redis-backed rate limits.

- `BodySizeLimit` is plain ASGI middleware: a request whose `Content-Length` is over the
  limit is answered 413 without reading its body; a body streamed without a length is
  counted as it is read and, once over, the rest is read and dropped (up to the limit
  again) and the request answered 413; the app sees the client gone, and whatever it
  answers is dropped (an exception would reach whoever parses the body, who would answer
  400). Nothing past the limit is ever kept in memory.
- `RateLimiter` counts requests per key in fixed windows in Redis (so every process shares
  the counts) and refuses the excess with 429 and `Retry-After`.
- `OpenSockets` caps the WebSockets open at once per customer and per client address,
  counted in this process (see its docstring for why).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

from fastapi import HTTPException, status
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from bot.storage import Keys

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """ASGI middleware answering 413 to any HTTP request body over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse by the declared length, else count the body as the app reads it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            # Over the limit, answer 413 at once and tell the app the client left: an
            # exception here would be turned into a 400 by whoever parses the body.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._discard_rest(receive, message)
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, watching_send)

    async def _discard_rest(self, receive: Receive, message: Message) -> None:
        """Read and drop what the client still sends, up to the limit once more, before
        answering: the server closes the connection with the answer, and closing with
        bytes unread resets it, losing the 413 on its way."""
        dropped = 0
        while message.get("more_body", False) and dropped <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body too large (limit: {self.max_bytes} bytes)"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status.HTTP_413_CONTENT_TOO_LARGE,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


@dataclass(frozen=True)
class Verdict:
    """One request counted: allowed or not, and when to try again if not."""

    allowed: bool
    count: int
    retry_after: int


class RateLimiter:
    """At most `limit` requests per key in each window of `window_seconds` (0: no limit)."""

    def __init__(
        self, redis: Redis, keys: Keys, name: str, limit: int, window_seconds: float = 60.0
    ):
        self.redis = redis
        self.name = name
        self.limit = limit
        self.window_ms = int(window_seconds * 1000)
        self._keys = keys
        self._hit = redis.register_script(_HIT)

    async def hit(self, key: str) -> Verdict:
        """Count one request of `key`; raises if Redis is unreachable (the app answers 503)."""
        if self.limit <= 0:
            return Verdict(True, 0, 0)
        count, ttl = cast(
            list[int],
            await self._hit(keys=[self._keys.rate_limit(self.name, key)], args=[self.window_ms]),
        )
        retry_after = max(1, math.ceil(int(ttl) / 1000))
        return Verdict(int(count) <= self.limit, int(count), retry_after)

    async def check(self, key: str, what: str) -> None:
        """Count one request; over the limit, raise a 429 saying which limit and when."""
        verdict = await self.hit(key)
        if not verdict.allowed:
            window = self.window_ms / 1000
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many requests: at most {self.limit} {what} per {window:g} seconds; "
                f"try again in {verdict.retry_after} s",
                headers={"Retry-After": str(verdict.retry_after)},
            )


@dataclass(frozen=True)
class WebLimits:
    """The web API's rate limits: per customer token and per client address."""

    per_token: RateLimiter
    per_ip: RateLimiter


def client_ip(connection: HTTPConnection) -> str:
    """The client's address as the server sees it (behind a proxy: as the proxy says,
    when the server trusts it; see `FORWARDED_ALLOW_IPS` in uvicorn)."""
    return connection.client.host if connection.client is not None else "unknown"


class OpenSockets:
    """The WebSockets open now, at most `per_customer` per customer and `per_ip` per client
    address (0: no cap).

    Counted in this process: a socket lives in one process, and its count must go when it
    closes, including when the process dies, which a shared counter in Redis would not
    see. With N web processes behind a balancer, one customer may hold up to N times the
    cap, which still bounds what any one process spends on them.
    """

    def __init__(self, per_customer: int, per_ip: int):
        self.per_customer = per_customer
        self.per_ip = per_ip
        self._by_customer: Counter[str] = Counter()
        self._by_ip: Counter[str] = Counter()

    def open(self, customer: str, ip: str) -> str | None:
        """Count one more socket; if a cap is reached, count nothing and say which."""
        if self.per_customer and self._by_customer[customer] >= self.per_customer:
            return f"too many connections for this customer (at most {self.per_customer})"
        if self.per_ip and self._by_ip[ip] >= self.per_ip:
            return f"too many connections from this address (at most {self.per_ip})"
        self._by_customer[customer] += 1
        self._by_ip[ip] += 1
        return None

    def close(self, customer: str, ip: str) -> None:
        """Count one socket fewer."""
        for counts, key in ((self._by_customer, customer), (self._by_ip, ip)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]

"""Each web customer's message stream: appended once per message id, read by cursor.

Readers (WebSockets, long polls) wait on a per-process notifier woken by a Redis pub/sub
message from whichever process appended, and always re-read from the stream by cursor, so a
lost notification delays a message by one poll interval at worst and never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from typing import Any, Literal, cast

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from bot.model import Choice
from bot.storage import Keys
from channels.web.settings import NAME

log = logging.getLogger("tsunagu.web")

# The stream's expiry is only ever pushed later, never brought closer.
_APPEND = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'm', ARGV[1])
  if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
  end
  return id
end
return false
"""
_MAX_MESSAGES = 1000
_MAX_ID_PART = 2**64 - 1  # each half of a Redis stream id is an unsigned 64-bit number
_LAST_ID = f"{_MAX_ID_PART}-{_MAX_ID_PART}"


def is_cursor(text: str) -> bool:
    """True when `text` is a stream id Redis accepts: `ms-seq`, both 0 to 2**64-1."""
    ms, dash, seq = text.partition("-")
    return (
        dash == "-"
        and all(part.isascii() and part.isdigit() for part in (ms, seq))
        and int(ms) <= _MAX_ID_PART
        and int(seq) <= _MAX_ID_PART
    )


class WebMessage(BaseModel):
    """One message as the widget sees it."""

    cursor: str = ""
    message_id: str
    sender: Literal["customer", "bot", "agent"]
    sender_name: str | None = None
    kind: str = "text"
    text: str
    choices: list[Choice] = Field(default_factory=list)
    time: float = Field(default_factory=time.time)
    client_id: str | None = Field(default=None, description="Echo of the sender's client_id.")
    faq_id: str | None = Field(
        default=None, description="The FAQ entry a bot answer comes from (the help center's page)."
    )


class WebOutbox:
    """Appends to and reads from the web customers' message streams."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        ttl_seconds: int,
        ttl_without_reply_seconds: int | None = None,
    ):
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds
        self._ttl_without_reply = min(ttl_seconds, ttl_without_reply_seconds or ttl_seconds)
        self._append = redis.register_script(_APPEND)
        self._channel = keys.channel(NAME, "notify")
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None
        self._attempts = 0  # subscriptions tried: on a cluster, which node to try next

    def ttl_of(self, message: WebMessage) -> int:
        """How long a message keeps the stream: the full `ttl_seconds` once the customer
        has written or an agent answered; a bot's greeting alone keeps it only
        `ttl_without_reply_seconds` (conversations opened and never used)."""
        return self._ttl if message.sender != "bot" else self._ttl_without_reply

    async def append(self, customer_key: str, message: WebMessage) -> bool:
        """Add a message unless one with its id was added before; wakes the readers."""
        added = await self._append(
            keys=[
                self._keys.web_outbox(customer_key),
                self._keys.sent(customer_key, message.message_id),
            ],
            args=[message.model_dump_json(exclude={"cursor"}), self.ttl_of(message), _MAX_MESSAGES],
        )
        if added:
            self._wake(customer_key)
            await self._redis.publish(self._channel, customer_key)
        return bool(added)

    async def read(
        self, customer_key: str, after: str | None, count: int = 100
    ) -> list[WebMessage]:
        """Messages after the cursor `after` (all when None), oldest first; `after` must
        pass `is_cursor`."""
        if after == _LAST_ID:
            return []  # nothing can come after the largest id (and Redis refuses the range)
        start = f"({after}" if after else "-"
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await self._redis.xrange(
                self._keys.web_outbox(customer_key), min=start, max="+", count=count
            ),
        )
        messages = []
        for entry_id, fields in entries:
            message = WebMessage.model_validate_json(fields["m"])
            message.cursor = entry_id
            messages.append(message)
        return messages

    async def wait(self, customer_key: str, timeout: float) -> bool:
        """Wait until something is appended for this customer; False on timeout."""
        event = asyncio.Event()
        self._waiters[customer_key].add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(customer_key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[customer_key]

    def readers(self, customer_key: str) -> int:
        """How many readers (long polls, WebSockets) wait on this customer right now."""
        return len(self._waiters.get(customer_key, ()))

    def _wake(self, customer_key: str) -> None:
        for event in self._waiters.get(customer_key, ()):
            event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def start(self) -> None:
        """Listen for appends made by other processes."""
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _subscriber(self) -> PubSub:
        """A pub/sub connection for the notify channel.

        On a cluster PUBLISH reaches every node (replicas too), so one connection to any
        node hears every process's appends. The cluster client must know its nodes first
        (its `pubsub()` otherwise looks the channel's slot up in an empty map), and each
        new attempt takes the next node it knows: a node that died is left behind at the
        next reconnect, before the client's own map has caught up with a failover.
        """
        self._attempts += 1
        if isinstance(self._redis, RedisCluster):
            await self._redis.initialize()
            nodes = sorted(self._redis.get_nodes(), key=lambda node: node.name)
            node = nodes[self._attempts % len(nodes)]
            return self._redis.pubsub(node=node)
        return self._redis.pubsub()

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await self._subscriber() as pubsub:
                    await pubsub.subscribe(self._channel)
                    delay = 0.5
                    # What other processes published while this process was not subscribed
                    # (starting, or between a lost connection and now) never comes: every
                    # waiting reader looks at its stream again at once instead of at its
                    # next timeout.
                    self._wake_all()
                    while True:
                        message: dict[str, Any] | None = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._wake(str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Readers still poll the stream on a timer meanwhile, so nothing is lost.
                log.warning("web notifier reconnecting", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


def dump_message(message: WebMessage) -> str:
    """The WebSocket frame for a message."""
    return json.dumps({"type": "message", "message": message.model_dump()}, ensure_ascii=False)

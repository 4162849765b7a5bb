"""The Redis connection: a real server from `REDIS_URL`, or the embedded in-process one."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import fakeredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import StorageUnavailable

log = logging.getLogger("tsunagu.storage")

# What "Redis is unreachable" looks like from inside the client: its own connection and
# timeout errors, and the socket errors it lets through. Raised from a Redis call, an
# `OSError` can only be about Redis, so here (and only here) it means storage.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)

_embedded_server: fakeredis.FakeServer | None = None


def connect(redis_url: str | None, *, max_connections: int = 200) -> Redis:
    """Return a client for `redis_url`, or for the embedded in-process server when it is None.

    The embedded server is shared by every client of this process, so the web API, the
    inbox worker and the FAQ watcher all see the same data, exactly as with a real server.
    """
    if redis_url:
        # A burst waits (up to 5 s) for a free connection rather than failing at once.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            decode_responses=True,
            health_check_interval=15,
            max_connections=max_connections,
            timeout=5,
        )
        return StorageClient(connection_pool=pool)
    global _embedded_server
    if _embedded_server is None:
        _embedded_server = fakeredis.FakeServer()
        log.warning(
            "REDIS_URL is not set: running on an embedded in-process Redis. "
            "Data lives only as long as this process and cannot be shared with other "
            "processes. Set REDIS_URL for production."
        )
    return fakeredis.FakeAsyncRedis(server=_embedded_server, decode_responses=True)


class StorageClient(Redis):
    """A Redis client whose every command raises `StorageUnavailable` when Redis is
    unreachable, so nothing above it needs to know how redis-py says so."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run one command (scripts and blocking reads too)."""
        try:
            return await super().execute_command(*args, **options)
        except _UNREACHABLE as exc:
            raise StorageUnavailable(f"Redis unreachable: {exc!r}") from exc

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        """A pipeline whose `execute` fails the same way."""
        return StoragePipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


class StoragePipeline(Pipeline):
    """The pipeline of a `StorageClient`."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send the buffered commands."""
        try:
            return await super().execute(raise_on_error)
        except _UNREACHABLE as exc:
            raise StorageUnavailable(f"Redis unreachable: {exc!r}") from exc


@dataclass(frozen=True)
class Keys:
    """Names of every Redis key, in one place.

    Keys of one conversation share the hash tag `{channel:user}` so that scripts touching
    several of them stay in one Redis Cluster slot.
    """

    prefix: str = "tsunagu"

    def conversation(self, customer_key: str) -> str:
        """The live conversation of one customer (a JSON document)."""
        return f"{self.prefix}:conv:{{{customer_key}}}:state"

    def transcript(self, customer_key: str) -> str:
        """The messages of the customer's current conversation (a list, newest last)."""
        return f"{self.prefix}:conv:{{{customer_key}}}:transcript"

    def event(self, customer_key: str, event_id: str) -> str:
        """What handling one event decided; makes a replay a no-op."""
        return f"{self.prefix}:conv:{{{customer_key}}}:event:{event_id}"

    def history(self, customer_key: str) -> str:
        """Summaries of the customer's earlier conversations."""
        return f"{self.prefix}:conv:{{{customer_key}}}:history"

    def web_outbox(self, customer_key: str) -> str:
        """The ordered message stream a web customer reads."""
        return f"{self.prefix}:conv:{{{customer_key}}}:web_outbox"

    def sent(self, customer_key: str, message_id: str) -> str:
        """Marks one outgoing message as delivered."""
        return f"{self.prefix}:conv:{{{customer_key}}}:sent:{message_id}"

    def outbound(self, customer_key: str, lane: str) -> str:
        """The customer's sends parked for a retry in one lane, by send id (`bot.outbound`)."""
        return f"{self.prefix}:conv:{{{customer_key}}}:outbound:{lane}"

    def outbound_order(self, customer_key: str, lane: str) -> str:
        """The order of the customer's parked sends in one lane (oldest first)."""
        return f"{self.prefix}:conv:{{{customer_key}}}:outbound:{lane}:order"

    def outbound_due(self, lane: str) -> str:
        """Customers with parked sends in one lane, by the time of their next attempt."""
        return f"{self.prefix}:outbound:{lane}"

    def outbound_failed(self) -> str:
        """Sends that will never be delivered (refused for good, or given up), and why."""
        return f"{self.prefix}:outbound:failed"

    def inbox(self, partition: int) -> str:
        """One shard of the inbox stream."""
        return f"{self.prefix}:inbox:{{{partition}}}"

    def inbox_lease(self, partition: int) -> str:
        """Which worker owns one inbox shard right now."""
        return f"{self.prefix}:inbox:{{{partition}}}:lease"

    def inbox_dead(self) -> str:
        """Events that failed every attempt, kept for a person to look at."""
        return f"{self.prefix}:inbox:dead"

    def web_revoked(self, user_id: str) -> str:
        """Marks a web customer's tokens as revoked (erased customer). The id is hashed so
        that the marker does not name the customer it outlives."""
        digest = hashlib.sha256(user_id.encode()).hexdigest()[:32]
        return f"{self.prefix}:web:revoked:{digest}"

    def workers(self) -> str:
        """Live inbox workers and their last heartbeat."""
        return f"{self.prefix}:workers"

    def queue(self) -> str:
        """The handoff queue: customer keys by priority and time."""
        return f"{self.prefix}:handoff:queue"

    # Identities: keys of one link graph share the hash tag `{identity}`, so the linking
    # transaction stays in one Redis Cluster slot.

    def link_code(self, code: str) -> str:
        """A one-time link code: who asked for it and until when (`bot.identity.codes`)."""
        return f"{self.prefix}:identity:{{identity}}:code:{code}"

    def link_codes_issued(self, customer_key: str) -> str:
        """How many link codes one identity asked for in the current window."""
        return f"{self.prefix}:identity:{{identity}}:issued:{customer_key}"

    def link_tries(self, customer_key: str) -> str:
        """Wrong link codes one identity typed in the current window."""
        return f"{self.prefix}:identity:{{identity}}:tries:{customer_key}"

    def identity_link(self, customer_key: str) -> str:
        """The customer (profile key) a linked identity belongs to."""
        return f"{self.prefix}:identity:{{identity}}:link:{customer_key}"

    def identity_members(self, profile_key: str) -> str:
        """Every identity of one linked customer (a set of customer keys)."""
        return f"{self.prefix}:identity:{{identity}}:members:{profile_key}"

    def identity_profile(self, profile_key: str) -> str:
        """One customer's profile fields (VIP flag, language, when linked)."""
        return f"{self.prefix}:identity:{{identity}}:profile:{profile_key}"

    def archive(self, conversation_id: str) -> str:
        """An ended conversation kept for /admin: its record and transcript (JSON)."""
        return f"{self.prefix}:archive:{conversation_id}"

    def archive_index(self) -> str:
        """Archived conversations by the time they ended (a sorted set of ids)."""
        return f"{self.prefix}:archive:index"

    def secret(self) -> str:
        """The generated signing secret when `SECRET_KEY` is unset."""
        return f"{self.prefix}:secret"

"""The Redis connection: a real server or cluster from `REDIS_URL`, or the embedded
in-process one; and the names of every key.

With `REDIS_CLUSTER=true` every process talks to a Redis Cluster through redis-py's cluster
client. Nothing above this module knows which: every multi-key command and script touches
one customer's keys (hash tag `{channel:user}`) or one inbox shard's (`Keys.inbox`), so it
stays in one hash slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import fakeredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection
from redis.commands.core import AsyncScript
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.driver_info import DriverInfo
from redis.exceptions import ClusterError, NoScriptError, RedisClusterException, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from bot.errors import StorageUnavailable

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("tsunagu.storage")

# What "Redis is unreachable" looks like from inside the client: its own connection and
# timeout errors, and the socket errors it lets through. Raised from a Redis call, an
# `OSError` can only be about Redis, so here (and only here) it means storage. On a cluster,
# also a slot whose master is down and not yet replaced (CLUSTERDOWN, TRYAGAIN).
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError, ClusterError)

_embedded_server: fakeredis.FakeServer | None = None


def _unreachable(exc: BaseException) -> bool:
    """True when `exc` says Redis cannot be reached now (as opposed to a wrong command)."""
    if isinstance(exc, _UNREACHABLE):
        return True
    # A connection the peer closed, written to again, can leak the transport's own errors
    # instead of a ConnectionError (redis/redis-py#4287: "'NoneType' object has no attribute
    # 'writelines'", "the handler is closed"); they mean the same and must not become a 500.
    if isinstance(exc, AttributeError | TypeError | RuntimeError):
        text = str(exc)
        return "'NoneType' object" in text or "handler is closed" in text
    # The cluster client's own word for "no node answers" (every node down, or none of the
    # slot's); its other `RedisClusterException`s are programming errors, raised as such.
    return isinstance(exc, RedisClusterException) and "cannot be connected" in str(exc)


@dataclass(frozen=True)
class ReplicaWait:
    """How many replicas must have a write before it is acknowledged (`WAIT`), and for how
    long to wait for them. Zero replicas: writes are acknowledged by the master alone."""

    replicas: int = 0
    timeout_ms: int = 500


def connect(
    redis_url: str | None,
    *,
    max_connections: int = 200,
    cluster: bool = False,
    replica_wait: ReplicaWait | None = None,
) -> Redis:
    """Return a client for `redis_url` (a cluster's node when `cluster`), or for the embedded
    in-process server when it is None.

    The embedded server is shared by every client of this process, so the web API, the
    inbox worker and the FAQ watcher all see the same data, exactly as with a real server.
    `replica_wait` is what `write_replicated` asks of this client's writes.
    """
    wait = replica_wait or ReplicaWait()
    if redis_url and cluster:
        client = cast(
            StorageCluster,
            StorageCluster.from_url(
                redis_url,
                decode_responses=True,
                health_check_interval=15,
                max_connections=max_connections,
                socket_connect_timeout=1,
            ),
        )
        client.replica_wait = wait
        # `RedisCluster` is typed apart from `Redis` but speaks the same commands.
        return client  # type: ignore[return-value]
    if redis_url:
        # A burst waits (up to 5 s) for a free connection rather than failing at once.
        pool = StoragePool.from_url(
            redis_url,
            connection_class=StorageConnection,
            # Resolved once: left to each connection, its library version is read from the
            # package metadata every time one is opened (as a burst grows the pool).
            driver_info=DriverInfo(),
            decode_responses=True,
            health_check_interval=15,
            max_connections=max_connections,
            timeout=5,
        )
        server = StorageClient(connection_pool=pool)
        server.replica_wait = wait
        return server
    global _embedded_server
    if _embedded_server is None:
        _embedded_server = fakeredis.FakeServer()
        log.warning(
            "REDIS_URL is not set: running on an embedded in-process Redis. "
            "Data lives only as long as this process and cannot be shared with other "
            "processes. Set REDIS_URL for production."
        )
    return fakeredis.FakeAsyncRedis(server=_embedded_server, decode_responses=True)


def connect_with(settings: Settings) -> Redis:
    """`connect` as the settings say: `REDIS_URL`, `REDIS_CLUSTER`, the replicas to wait for."""
    return connect(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        cluster=settings.redis_cluster,
        replica_wait=ReplicaWait(settings.replicas_to_wait_for, settings.redis_wait_timeout_ms),
    )


class StorageConnection(Connection):
    """A TCP connection to Redis that writes a command without a timeout scope when the
    socket takes it at once.

    redis-py sends every command under `asyncio.wait_for(..., socket_timeout)`, a task and a
    timer per command, though a write only ever waits when the socket's buffer is full. Here
    the command is written, and only if some of it is left in the transport's buffer does the
    write wait for it to drain, within `socket_timeout` as before. (A `rediss://` URL uses
    redis-py's own TLS connection instead.)
    """

    # Set while a caller's own timeout scope bounds every read (`read_within`).
    _reads_bounded = False

    @contextlib.contextmanager
    def read_within(self) -> Iterator[None]:
        """Reads made inside are bounded by the caller's own timeout scope (a pipeline's
        answers, one scope for all of them) instead of one `socket_timeout` scope each."""
        self._reads_bounded = True
        try:
            yield
        finally:
            self._reads_bounded = False

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        """Read one answer; within `read_within`, without a timeout scope of its own (a
        wait that outlasts the caller's scope is cancelled there, and the connection is
        dropped as on any interrupted read)."""
        if timeout is None and self._reads_bounded:
            timeout = math.inf  # redis-py's "no timeout of its own"
        return await super().read_response(
            disable_decoding,
            timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        """One command in the Redis protocol, as one buffer.

        redis-py's packer copies its buffer again for every argument, and gives a value
        over 6 kB a chunk of its own to spare a large copy; Tsunagu's values are a few kB
        at most, so one join of all the parts costs less (about a twentieth of the
        worker's CPU went to packing). A command name of several words (`CONFIG GET`) and
        a `memoryview` go through redis-py's packer.
        """
        first = args[0]
        if isinstance(first, str) and " " not in first:
            encoder = self.encoder
            encoding, errors = encoder.encoding, encoder.encoding_errors
            parts = [b"*%d\r\n" % len(args)]
            for arg in args:
                # Most arguments are text: encoded here, the rest as redis-py would.
                data = arg.encode(encoding, errors) if type(arg) is str else encoder.encode(arg)
                if isinstance(data, memoryview):
                    return super().pack_command(*args)
                parts += (b"$%d\r\n" % len(data), data, b"\r\n")
            return [b"".join(parts)]
        return super().pack_command(*args)

    def pack_commands(self, commands: Iterable[Iterable[EncodableT]]) -> list[bytes]:
        """A pipeline's commands in the Redis protocol, as one buffer (`pack_command`)."""
        return [b"".join([chunk for command in commands for chunk in self.pack_command(*command)])]

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        """Write one packed command (or a pipeline's), connecting first if need be."""
        writer = self._writer
        if writer is None or isinstance(command, str) or writer.transport.is_closing():
            await super().send_packed_command(command, check_health)
            return
        if check_health:
            await self.check_health()
            if self._writer is not writer:  # the health check found it dead and reconnected
                await super().send_packed_command(command, check_health=False)
                return
        try:
            writer.writelines([command] if isinstance(command, bytes) else command)
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.socket_timeout):
                    await writer.drain()
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc!r}") from exc
        except BaseException:
            # As redis-py does: a command half written leaves the connection unusable.
            await self.disconnect(nowait=True)
            raise


class StoragePool(ConnectionPool):
    """A bounded connection pool: with every one of `max_connections` busy, a command waits
    (up to `timeout` seconds) for one to be released, as with redis-py's
    `BlockingConnectionPool`, rather than failing at once.

    It is that pool without its cost per command, which is most of what a round trip costs
    in Python besides the socket: an `asyncio.Condition` and a timeout scope around every
    `get_connection` and `release`, the check-and-connect of a connection already connected
    (itself wrapped in the retry machinery), and the observability hooks, which record
    nothing unless OpenTelemetry is set up. Here an idle connection is taken as it is, after
    the one check that matters (nothing left unread on it, the peer has not closed it), and
    only a command that finds the pool exhausted waits on a future. The re-authentication
    hook on release serves streaming credential providers, which Tsunagu does not use.
    """

    def __init__(self, timeout: float = 5, **connection_kwargs: Any):
        super().__init__(**connection_kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get_connection(
        self, command_name: Any = None, *keys: Any, **options: Any
    ) -> AbstractConnection:
        """An idle connection, or a new one below the bound; else wait for a release."""
        if not self._available_connections and len(self._in_use_connections) >= (
            self.max_connections
        ):
            await self._wait_for_release()
        connection = self.get_available_connection()
        try:
            # Data waiting on an idle connection (or a peer that closed it) means it is not
            # fit to send on: `ensure_connection` reconnects it. A connected, clean one (the
            # usual case) is used as it is.
            if not connection.is_connected or await connection.can_read():
                await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_for_release(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                while not self._available_connections and len(self._in_use_connections) >= (
                    self.max_connections
                ):
                    released = loop.create_future()
                    self._waiters.append(released)
                    try:
                        await released
                    except BaseException:
                        if released.done() and not released.cancelled():
                            # Woken, then cancelled (or timed out) before it could take
                            # the connection: the next in line takes it instead.
                            self._wake_one()
                        released.cancel()
                        raise
        except TimeoutError as exc:
            raise RedisConnectionError("No connection available.") from exc

    async def release(self, connection: AbstractConnection) -> None:
        """Give `connection` back, and wake the oldest command waiting for one."""
        if connection.should_reconnect():
            self._in_use_connections.remove(connection)
            await connection.disconnect()
            self._available_connections.append(connection)
            self._wake_one()
            return
        self.release_at_once(connection)

    def release_at_once(self, connection: AbstractConnection) -> None:
        """`release` of a connection that needs no reconnection: nothing to wait for, so
        no cancellation can leave the pool's bookkeeping half done."""
        self._in_use_connections.remove(connection)
        self._available_connections.append(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


class StorageClient(Redis):
    """A Redis client whose every command raises `StorageUnavailable` when Redis is
    unreachable, so nothing above it needs to know how redis-py says so."""

    replica_wait = ReplicaWait()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run one command (scripts and blocking reads too)."""
        try:
            if self.connection is None and not self.single_connection_client:
                return await self._execute_pooled(*args, **options)
            return await super().execute_command(*args, **options)
        except Exception as exc:
            if _unreachable(exc):
                raise StorageUnavailable(f"Redis unreachable: {exc!r}") from exc
            raise

    async def _execute_pooled(self, *args: Any, **options: Any) -> Any:
        # redis-py's `execute_command` without its per-command wrapping (a retry closure and
        # observability hooks, which record nothing unless OpenTelemetry is set up). A
        # connection that fails is dropped, and the command goes through redis-py's own
        # path then, retries and all, exactly as its first failure would have.
        pool = self.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_command(*args)
            return await self.parse_response(connection, args[0], **options)
        except (RedisConnectionError, RedisTimeoutError):
            await connection.disconnect()
        finally:
            await pool.release(connection)
        return await super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        """A pipeline whose `execute` fails the same way."""
        return StoragePipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


class StoragePipeline(Pipeline):
    """The pipeline of a `StorageClient`."""

    async def reset(self) -> None:  # type: ignore[override]
        """Forget the buffered commands and give the connection back (after every
        `execute`, and on leaving `async with`).

        redis-py shields the pool's release in a task of its own, so that a cancellation
        cannot interrupt it halfway; the release of a connection that watches nothing and
        needs no reconnection does not wait at all, so it is done here at once. (The
        pipeline's own reset, which redis-py's typing confuses with the RESET command.)
        """
        connection, pool = self.connection, self.connection_pool
        if (
            self.watching
            or not isinstance(pool, StoragePool)
            or (connection is not None and connection.should_reconnect())
        ):
            await super().reset()
            return
        self.command_stack = []
        self.scripts = set()
        self.explicit_transaction = False
        if connection is not None:
            self.connection = None
            pool.release_at_once(connection)

    async def _execute_pipeline(
        self, connection: Connection, commands: Any, raise_on_error: bool
    ) -> list[Any]:
        """redis-py's, but the answers are read within one `socket_timeout` for them all.

        redis-py opens a timeout scope (a timer scheduled and cancelled) for every answer
        of a pipeline, most of which are already in the socket's buffer when read: about
        a twentieth of a worker's CPU. Anything but a plain `StorageConnection`, or once
        redis-py's HIMPORT fieldsets were registered (Tsunagu registers none), goes
        redis-py's way.
        """
        timeout = connection.socket_timeout
        if (
            not isinstance(connection, StorageConnection)
            or timeout is None
            or _himport_in_use(connection)
        ):
            return cast(
                list[Any], await super()._execute_pipeline(connection, commands, raise_on_error)
            )
        await connection.send_packed_command(connection.pack_commands([a for a, _ in commands]))
        response: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                with connection.read_within():
                    for args, options in commands:
                        try:
                            response.append(
                                await self.parse_response(connection, args[0], **options)
                            )
                        except ResponseError as exc:
                            response.append(exc)
        except TimeoutError:
            # As redis-py's own timed-out read: the connection is dropped (it was, when the
            # read was interrupted) and the pipeline's retry policy decides what follows.
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout reading a pipeline's answers") from None
        if raise_on_error:
            self.raise_first_error(commands, response)
        return response

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send the buffered commands."""
        try:
            return await super().execute(raise_on_error)
        except Exception as exc:
            if _unreachable(exc):
                raise StorageUnavailable(f"Redis unreachable: {exc!r}") from exc
            raise


def _himport_in_use(connection: Connection) -> bool:
    """Whether redis-py's HIMPORT fieldsets were ever registered on the connection's
    client (its registry's revision moves on with every change)."""
    registry = getattr(connection, "himport_registry", None)
    return bool(getattr(registry, "revision", 0))


class StorageCluster(RedisCluster):
    """The cluster client with `StorageClient`'s manners: `StorageUnavailable` whenever the
    cluster cannot serve a command now (a node down, a failover under way)."""

    replica_wait = ReplicaWait()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run one command on the node of its slot (scripts and blocking reads too)."""
        try:
            return await super().execute_command(*args, **kwargs)
        except Exception as exc:
            if _unreachable(exc):
                raise StorageUnavailable(f"Redis Cluster unreachable: {exc!r}") from exc
            raise

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        """A pipeline (commands of any slots; a transaction's in one slot) failing the same way."""
        if shard_hint:
            raise RedisClusterException("shard_hint is not supported in cluster mode")
        # (redis-py's stubs call the pipeline abstract; its own `pipeline` makes them alike.)
        return StorageClusterPipeline(self, transaction)  # type: ignore[abstract]


class StorageClusterPipeline(ClusterPipeline):
    """The pipeline of a `StorageCluster`."""

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        """Send the buffered commands, grouped by node."""
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except Exception as exc:
            if _unreachable(exc):
                raise StorageUnavailable(f"Redis Cluster unreachable: {exc!r}") from exc
            raise


async def write_replicated(redis: Redis, key: str, queue: Callable[[Any], object]) -> list[Any]:
    """Run the writes `queue` adds to a pipeline, all in the slot of `key`; with a
    `ReplicaWait` on the client, return only once that many replicas have them.

    Redis replicates asynchronously, so a master that dies can take writes it acknowledged
    with it; a replica promoted in its place never saw them. `WAIT`, sent on the same
    connection right after the writes, blocks until enough replicas have everything that
    connection wrote. Fewer replicas within the timeout: `StorageUnavailable` (the write
    may yet survive; whoever acknowledges nothing must then not acknowledge it either).
    """
    wait: ReplicaWait = getattr(redis, "replica_wait", None) or ReplicaWait()
    async with redis.pipeline(transaction=False) as pipe:
        queue(pipe)
        if wait.replicas:
            if isinstance(redis, RedisCluster):
                # The node of the slot: a cluster pipeline sends each node's commands on
                # one connection, so WAIT follows the writes it is about.
                await redis.initialize()
                node = redis.get_node_from_key(key)
                pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms, target_nodes=node)
            else:
                pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms)
        try:
            results = list(await pipe.execute())
        except RedisClusterException as exc:
            # A failover under way can move the slot between the write and its WAIT.
            raise StorageUnavailable(f"Redis Cluster unreachable: {exc!r}") from exc
    if not wait.replicas:
        return results
    acknowledged = int(results.pop())
    if acknowledged < wait.replicas:
        raise StorageUnavailable(
            f"write to {key} reached {acknowledged} of {wait.replicas} replicas "
            f"within {wait.timeout_ms} ms"
        )
    return results


async def run_script_replicated(
    redis: Redis, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """`script(keys, args)`, acknowledged as `write_replicated` acknowledges writes."""
    wait: ReplicaWait = getattr(redis, "replica_wait", None) or ReplicaWait()
    if not wait.replicas:
        return await script(keys=keys, args=args)

    def evalsha(pipe: Any) -> None:
        # As a raw command: the cluster pipeline refuses its `evalsha` method, not EVALSHA.
        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    try:
        return (await write_replicated(redis, keys[0], evalsha))[0]
    except NoScriptError:
        # A node that never ran it (or was restarted): load it everywhere, then again.
        await redis.script_load(script.script)
        return (await write_replicated(redis, keys[0], evalsha))[0]


@functools.cache
def shard_tag(partition: int, partitions: int) -> str:
    """The hash tag of one inbox shard: one whose slot lies in the shard's own share of the
    16,384 slots (`partition`/`partitions` of the way along).

    A cluster created by `redis-cli --cluster create` gives each master an equal run of
    slots, so shards laid out this way spread over the masters as evenly as they divide.
    The tag is the first of `<partition>`, `<partition>.1`, `<partition>.2`, ... that lands
    there: the same in every process.
    """
    low = partition * REDIS_CLUSTER_HASH_SLOTS // partitions
    high = (partition + 1) * REDIS_CLUSTER_HASH_SLOTS // partitions
    candidate, attempt = str(partition), 0
    while not low <= key_slot(candidate.encode()) < high:
        attempt += 1
        candidate = f"{partition}.{attempt}"
    return candidate


@dataclass(frozen=True)
class Keys:
    """Names of every Redis key, in one place.

    Keys of one conversation share the hash tag `{channel:user}` so that scripts touching
    several of them stay in one Redis Cluster slot.
    """

    prefix: str = "tsunagu"
    partitions: int = 16  # inbox shards (`INBOX_PARTITIONS`): their tags depend on it

    def customer(self, customer_key: str, *name: str) -> str:
        """A key of one customer's own, under their hash tag: `conv:{channel:user}:<name>`.

        Channels and desks name what they keep per customer with it (a Slack thread ts, a
        desk's markers); `customer_pattern` finds every one of them (for forget)."""
        return ":".join((f"{self.prefix}:conv:{{{customer_key}}}", *name))

    def customer_pattern(self, customer_key: str) -> str:
        """A SCAN pattern matching every key of `customer_key` (glob characters escaped)."""
        return f"{_glob_escape(self.prefix)}:conv:{{{_glob_escape(customer_key)}}}:*"

    def channel(self, channel: str, *name: str) -> str:
        """A key a channel keeps outside any one conversation: `<channel>:<name>`, such as
        a cached profile (`line:profile:<user>`) or an event marker (`slack:event:<id>`)."""
        return ":".join((f"{self.prefix}:{channel}", *name))

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
        """One shard of the inbox stream (its tag spreads the shards over a cluster's
        masters: `shard_tag`)."""
        return f"{self.prefix}:inbox:{{{shard_tag(partition, self.partitions)}}}"

    def inbox_lease(self, partition: int) -> str:
        """Which worker owns one inbox shard right now."""
        return f"{self.prefix}:inbox:{{{shard_tag(partition, self.partitions)}}}:lease"

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

    def link_probes(self, customer_key: str) -> str:
        """Bare six-digit messages from one identity that named no live code, this window."""
        return f"{self.prefix}:identity:{{identity}}:probes:{customer_key}"

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

    def timers(self) -> str:
        """Armed timers, by due time (`bot.timers`)."""
        return f"{self.prefix}:timers"

    def records(self, stream: str) -> str:
        """One kind of report record (`bot.records`)."""
        return f"{self.prefix}:records:{stream}"

    def record_seen(self, stream: str, dedupe_id: str) -> str:
        """Marks a record as written once already (a replayed event adds no second one)."""
        return f"{self.prefix}:records:seen:{stream}:{dedupe_id}"

    def rate_limit(self, name: str, subject: str) -> str:
        """One subject's hits in one rate limit's window (`bot.limits`)."""
        return f"{self.prefix}:ratelimit:{name}:{subject}"

    def agent_actions_pending(self) -> str:
        """Agents' actions noted but not yet finished (`handoff.agents`)."""
        return f"{self.prefix}:agent_actions:pending"

    def console_open(self) -> str:
        """Conversations the web agent console lists (`handoff.console`)."""
        return f"{self.prefix}:console:open"

    def console_admin_token(self) -> str:
        """The generated admin token of the console when none is configured."""
        return f"{self.prefix}:console:admin_token"

    def help_views(self, hour: int) -> str:
        """Help-center page views counted in one hour (`bot.helpcenter.store`)."""
        return f"{self.prefix}:help:views:{hour}"

    def audit(self) -> str:
        """The audit log: who looked at or erased whose data, when and why."""
        return f"{self.prefix}:audit"

    def audit_seen(self) -> str:
        """Marks audit entries written once already (a retried request adds no second one)."""
        return f"{self.prefix}:audit:seen"

    def secret(self) -> str:
        """The generated signing secret when `SECRET_KEY` is unset."""
        return f"{self.prefix}:secret"


def _glob_escape(text: str) -> str:
    """`text` with Redis glob characters escaped, to match it literally in a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)

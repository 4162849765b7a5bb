"""Inbox workers: each owns some shards of the inbox (a lease in Redis) and feeds their
events to the dispatcher, one customer's events after another, other customers' at once.

Workers share the shards evenly (a heartbeat says who is alive); a shard whose worker died
is taken over when its lease runs out, and what that worker read but never acknowledged is
replayed first (`XAUTOCLAIM`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import ValidationError
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from bot import metrics
from bot.applied_marks import APPLIED_FIELD, APPLIED_VALUE, hold_applied_marks
from bot.errors import StorageUnavailable
from bot.inbox import GROUP, Inbox
from bot.model import Inbound
from bot.send_guard import guard_sends

log = logging.getLogger("tsunagu.inbox")

Handler = Callable[[Inbound], Awaitable[None]]
# What waits for a lease to be sure: reading a shard, starting an event, sending its replies.
Waiting = Literal["read", "start", "send"]

_STORAGE_RETRY_MAX_SECONDS = 5.0
_BURST_POLL_SECONDS = 0.05
# How long a stopping worker past its cut-off waits for its cancelled handlers to unwind
# before it frees their shards' leases (`InboxWorker._release_abandoned`).
_UNWIND_SECONDS = 1.0

_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# Mark the settled events applied (KEYS[2..], their hashes; on one server only, where a
# script may touch any key), then acknowledge their entries and delete them, atomically:
# an entry is never acknowledged without its event's mark (`bot.applied_marks`).
_MARK_ACK_AND_DELETE = f"""
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], '{APPLIED_FIELD}', '{APPLIED_VALUE}')
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(eq=False)
class _AckBatch:
    """Events of one shard settled together, their applied marks, and the task writing
    the marks and acknowledging the events."""

    entry_ids: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    flush: asyncio.Task[None] = field(init=False)


class InboxWorker:
    """Owns some shards of the inbox and feeds their events to a handler."""

    def __init__(
        self,
        inbox: Inbox,
        handler: Handler,
        *,
        worker_id: str | None = None,
        lease_seconds: float = 10.0,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.5,
        batch_size: int = 50,
        max_in_flight: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
        shutdown_cut_off_seconds: float = 10.0,
    ):
        """`monotonic` is the clock the leases are timed by (tests move it forward).
        `shutdown_cut_off_seconds` is the last resort of a stopping worker: what its
        handlers have not finished by then (Redis away, a platform that does not answer) is
        cancelled and stays pending for the next owner."""
        self.inbox = inbox
        self.handler = handler
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lease_ms = int(lease_seconds * 1000)
        self.max_attempts = max_attempts
        self.retry_base = retry_base_seconds
        self.batch_size = batch_size
        self._monotonic = monotonic
        self.shutdown_cut_off = shutdown_cut_off_seconds
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._renew = inbox.redis.register_script(_RENEW_LEASE)
        self._release = inbox.redis.register_script(_RELEASE_LEASE)
        self._mark_ack_and_delete = inbox.redis.register_script(_MARK_ACK_AND_DELETE)
        # On a cluster the marks (customers' slots) cannot join the shard's script.
        self._marks_apart = isinstance(inbox.redis, RedisCluster)
        self._consumers: dict[int, asyncio.Task[None]] = {}
        self._draining: dict[int, asyncio.Event] = {}
        # Shards being handed back: their lease is still renewed until what was read from
        # them is finished, so no other worker can take them over in the meantime (by
        # `_rebalance`, or while the worker stops by `_renew_while_handing_back`).
        self._releasing: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._acks: dict[int, _AckBatch] = {}
        # Until when (monotonic) each held lease is surely still this worker's: two thirds
        # of a lease after the renewal (or the taking) was sent, so a worker whose renewals
        # come late (starved of CPU) stops reading and starting events well before another
        # worker could take the shard over, and resumes only once a renewal succeeded.
        self._sure_for = self.lease_ms / 1000 * 2 / 3
        self._held_until: dict[int, float] = {}
        self._renewal = asyncio.Event()

    @property
    def owned_partitions(self) -> list[int]:
        """The shards this worker reads now."""
        return sorted(self._consumers)

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Balance shards with the other workers and consume them until `stop` is set.

        In `burst` mode, return as soon as the inbox is settled: every event put so far
        handled (or dead-lettered), none in hand. For batch runs, and for tests that must
        know that nothing more is coming before they look.
        """
        log.info("inbox worker started", extra={"worker": self.worker_id, "burst": burst})
        pause = _BURST_POLL_SECONDS if burst else self.lease_ms / 3000
        try:
            while not stop.is_set():
                try:
                    await self._rebalance()
                except StorageUnavailable as exc:
                    log.warning("inbox: Redis unreachable, retrying", extra={"error": str(exc)})
                except Exception:
                    log.exception("inbox: rebalance failed")
                if burst and await self._settled():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        finally:
            await self._shutdown()

    async def _settled(self) -> bool:
        with contextlib.suppress(StorageUnavailable):
            return not self._tasks and await self.inbox.backlog() == 0
        return False

    async def _renew_leases(self) -> None:
        """Renew the lease of every shard this worker reads or is handing back; stop the
        work of each one whose lease is lost. Raises `StorageUnavailable` if Redis is away
        (the leases then count as held only until their two thirds run out)."""
        keys = self.inbox.keys
        # Every lease at once: one after another, on a busy worker whose handlers keep the
        # connections busy, the last ones could be renewed too late.
        held = [*self._releasing, *self._consumers]
        lease: list[str | int] = [self.worker_id, self.lease_ms]
        sent = self._monotonic()
        answers = await asyncio.gather(
            *(self._renew(keys=[keys.inbox_lease(partition)], args=lease) for partition in held)
        )
        renewals = dict(zip(held, answers, strict=True))
        for partition, renewed in renewals.items():
            if renewed:
                self._held_until[partition] = sent + self._sure_for
            else:
                self._held_until.pop(partition, None)
        self._renewal.set()
        self._renewal = asyncio.Event()

        for partition in self._releasing:
            if not renewals.get(partition, True):
                # Lost while being handed back: what it still had in hand waits for a
                # renewal that will not come (`_while_held`); the new owner replays it.
                log.warning("inbox: lost shard", extra={"partition": partition})
                self._cancel_handling(partition)
        for partition, task in list(self._consumers.items()):
            if not renewals.get(partition, True):
                # Another worker may own it already and replay what we were handling: stop
                # that work now (as a crash would) rather than race the new owner.
                log.warning("inbox: lost shard", extra={"partition": partition})
                task.cancel()
                self._consumers.pop(partition, None)
                self._cancel_handling(partition)

    async def _rebalance(self) -> None:
        redis, keys = self.inbox.redis, self.inbox.keys
        await self._renew_leases()
        now = time.time()
        # A worker beats every third of a lease; one silent for a whole lease is gone (its
        # shards' leases have expired too), so the survivors share its shards at once.
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.workers(), {self.worker_id: now})
            pipe.zremrangebyscore(keys.workers(), "-inf", now - self.lease_ms / 1000)
            pipe.zcard(keys.workers())
            *_, workers = await pipe.execute()
        live = max(1, int(workers))
        target = math.ceil(self.inbox.partitions / live)

        for partition, task in list(self._consumers.items()):
            if task.done():
                # The reader died (Redis went away, say) but the shard is still ours: read
                # it again now, starting with what is pending, rather than after the lease.
                if not task.cancelled() and task.exception() is not None:
                    log.warning(
                        "inbox: shard reader restarted",
                        extra={"partition": partition, "error": repr(task.exception())},
                    )
                self._draining[partition] = asyncio.Event()
                self._consumers[partition] = asyncio.create_task(self._consume(partition))

        if len(self._consumers) > target:
            await self._hand_back(self.owned_partitions[target:])

        if len(self._consumers) < target:
            start = random.randrange(self.inbox.partitions)
            for offset in range(self.inbox.partitions):
                if len(self._consumers) >= target:
                    break
                partition = (start + offset) % self.inbox.partitions
                if partition in self._consumers or partition in self._releasing:
                    continue
                sent = self._monotonic()
                taken = await redis.set(
                    keys.inbox_lease(partition), self.worker_id, nx=True, px=self.lease_ms
                )
                if taken:
                    self._held_until[partition] = sent + self._sure_for
                    self._draining[partition] = asyncio.Event()
                    self._consumers[partition] = asyncio.create_task(self._consume(partition))

    def _cancel_handling(self, partition: int) -> None:
        for handling in list(self._tasks):
            if handling.get_name() == f"inbox:{partition}":
                handling.cancel()

    async def _hand_back(self, partitions: list[int]) -> None:
        """Stop reading shards; in the background, finish what was read from them, then free
        their leases (renewed meanwhile by `_rebalance`, which is not held up, or while the
        worker stops by `_renew_while_handing_back`)."""
        for partition in partitions:
            consumer = self._consumers.pop(partition, None)
            if consumer is None:
                continue
            self._draining[partition].set()
            self._releasing[partition] = asyncio.create_task(
                self._finish_hand_back(partition, consumer)
            )

    async def _finish_hand_back(self, partition: int, consumer: asyncio.Task[None]) -> None:
        try:
            (stopped,) = await asyncio.gather(consumer, return_exceptions=True)
            if isinstance(stopped, Exception):
                log.warning(
                    "inbox: shard reader failed while handing back; its handlers finish first",
                    extra={"partition": partition, "error": repr(stopped)},
                )
            # What was read from the shard finishes before its lease is freed, also when the
            # reader died (Redis went away) instead of draining.
            handling = [task for task in self._tasks if task.get_name() == f"inbox:{partition}"]
            await asyncio.gather(*handling, return_exceptions=True)
            await self._free_lease(partition)
        finally:
            self._releasing.pop(partition, None)

    async def _free_lease(self, partition: int) -> None:
        """Give a shard's lease up (if it is still this worker's), for the next owner."""
        self._held_until.pop(partition, None)
        await self._release(keys=[self.inbox.keys.inbox_lease(partition)], args=[self.worker_id])

    async def _consume(self, partition: int) -> None:
        redis, stream = self.inbox.redis, self.inbox.keys.inbox(partition)
        draining = self._draining[partition]
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)

        # First what an earlier owner read but never acknowledged, oldest first.
        start, last = "0-0", "-"
        while True:
            await self._while_held(partition)
            start, entries, _ = await redis.xautoclaim(
                stream, GROUP, self.worker_id, min_idle_time=0, start_id=start, count=100
            )
            for entry_id, fields in entries:
                await self._schedule(partition, entry_id, fields)
                last = f"({entry_id}"
            if start == "0-0":
                break

        while not draining.is_set():
            # A worker whose lease may have run out reads nothing more: the shard may be
            # another's by now, and two readers would answer a customer out of order.
            await self._while_held(partition)
            began = self._monotonic()
            response = await redis.xreadgroup(
                GROUP, self.worker_id, {stream: ">"}, count=self.batch_size, block=1000
            )
            if not response:
                # The embedded Redis answers a blocking read at once; wait for a local put.
                if self._monotonic() - began < 0.05:
                    await self.inbox.wait_for_arrival(partition, timeout=0.25)
                continue
            streams = cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], response)
            for _, entries in streams:
                if entries:
                    # A read whose reply was lost to a dropped connection, then sent again
                    # by the client, left its entries delivered to us but unseen: they are
                    # older than this batch, so they go first (settled entries are deleted,
                    # so whatever remains between the last one seen and this batch is them).
                    missed = cast(
                        list[tuple[str, dict[str, str]]],
                        await redis.xrange(stream, min=last, max=f"({entries[0][0]}"),
                    )
                    entries = [*missed, *entries]
                for entry_id, fields in entries:
                    await self._schedule(partition, entry_id, fields)
                    last = f"({entry_id}"

    async def _while_held(self, partition: int, waiting: Waiting = "read") -> None:
        """Return at once while this worker's lease on `partition` is surely its own; else
        once a renewal says so (a lost shard's tasks are cancelled by `_renew_leases`).
        `waiting` says what waits, for the metric."""
        if self._monotonic() < self._held_until.get(partition, 0.0):
            return
        metrics.INBOX_LEASE_WAITS.labels(waiting).inc()
        while self._monotonic() >= self._held_until.get(partition, 0.0):
            renewal = self._renewal
            await renewal.wait()

    async def _schedule(self, partition: int, entry_id: str, fields: dict[str, str]) -> None:
        """Queue an event behind earlier events of the same customer."""
        try:
            inbound = Inbound.model_validate_json(fields.get("event", ""))
        except ValidationError:
            log.error("inbox: unreadable event dropped", extra={"entry": entry_id})
            await self._settle(partition, entry_id, fields, error="unreadable")
            return
        await self._in_flight.acquire()
        key = inbound.conversation_key  # a linked customer: one chain
        previous = self._tails.get(key)
        task = asyncio.create_task(
            self._handle_after(previous, partition, entry_id, fields, inbound),
            name=f"inbox:{partition}",
        )
        self._tails[key] = task
        self._tasks.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._in_flight.release()
            if self._tails.get(key) is done:
                del self._tails[key]

        task.add_done_callback(forget)

    async def _handle_after(
        self,
        previous: asyncio.Task[None] | None,
        partition: int,
        entry_id: str,
        fields: dict[str, str],
        inbound: Inbound,
    ) -> None:
        if previous is not None:
            # Whatever became of the previous event (handled, failed, cancelled), this one
            # waits for it; but a cancellation of this task itself must not be swallowed,
            # or a cancelled event would run before the replay of the one ahead of it.
            await asyncio.wait({previous})
        # Its sends wait for the lease too (`bot.send_guard`): a handler that was already
        # past its decision when the worker stalled must not answer after the new owner.
        guard_sends(functools.partial(self._while_held, partition, "send"))
        # The event's applied mark is written with its acknowledgement, not on its own.
        applied = hold_applied_marks()
        error: str | None = None
        attempt = 0
        storage_wait = self.retry_base
        while attempt < self.max_attempts:
            attempt += 1
            # Read while the lease was held, but maybe started long after (a starved worker):
            # the event waits for a renewal; if the shard was lost, this task is cancelled
            # and the event stays pending for the new owner, which replays it in order.
            await self._while_held(partition, "start")
            try:
                await self.handler(inbound)
                error = None
                break
            except StorageUnavailable as exc:
                # Redis is away: wait for it (this is no fault of the event), unless the
                # worker is stopping; then the event stays pending for the next owner.
                attempt -= 1
                if self._stopping:
                    raise
                log.warning(
                    "inbox: storage unreachable while handling, waiting",
                    extra={"event_id": inbound.event_id, "error": repr(exc)},
                )
                await asyncio.sleep(storage_wait)
                storage_wait = min(storage_wait * 2, _STORAGE_RETRY_MAX_SECONDS)
            except Exception as exc:
                metrics.ERRORS.labels("handler").inc()
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "inbox: handling failed",
                    extra={"event_id": inbound.event_id, "attempt": attempt, "error": error},
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))
        await self._settle_when_possible(
            partition, entry_id, fields, error=error, applied=applied.take()
        )

    async def _settle_when_possible(
        self,
        partition: int,
        entry_id: str,
        fields: dict[str, str],
        *,
        error: str | None,
        applied: list[str],
    ) -> None:
        """`_settle`, retried while Redis is unreachable (an unacknowledged event that was
        handled would be handled again, harmlessly, but only after a takeover)."""
        wait = self.retry_base
        try:
            while True:
                try:
                    await self._settle(partition, entry_id, fields, error=error, applied=applied)
                    return
                except StorageUnavailable:
                    if self._stopping:
                        raise
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, _STORAGE_RETRY_MAX_SECONDS)
        except BaseException:
            # Given up (the worker stops, the shard was lost): the event stays pending for
            # the next owner. Its effects were carried out, so its marks, written alone,
            # let that replay only acknowledge it instead of carrying them out again.
            if applied:
                await asyncio.shield(self._mark_alone(applied))
            raise

    async def _mark_alone(self, marks: list[str]) -> None:
        """Write applied marks without acknowledging their events; best effort (Redis may
        be what failed)."""
        with contextlib.suppress(Exception):
            await self._write_marks(marks)

    async def _write_marks(self, marks: list[str]) -> None:
        """Mark events applied (their hashes' keys), in one round trip."""
        async with self.inbox.redis.pipeline(transaction=False) as pipe:
            for key in marks:
                pipe.hset(key, APPLIED_FIELD, APPLIED_VALUE)
            await pipe.execute()

    async def _settle(
        self,
        partition: int,
        entry_id: str,
        fields: dict[str, str],
        *,
        error: str | None,
        applied: list[str] | None = None,
    ) -> None:
        """Acknowledge an event, with the applied marks its handling held (their events'
        hash keys); one that failed every attempt goes to the dead letters."""
        redis, keys = self.inbox.redis, self.inbox.keys
        stream = keys.inbox(partition)
        if error is not None:
            metrics.ERRORS.labels("dead_letter").inc()
            log.error("inbox: event dead-lettered", extra={"entry": entry_id, "error": error})
            dead: dict[Any, Any] = {**fields, "error": error}
            await redis.xadd(keys.inbox_dead(), dead, maxlen=10_000)
        batch = self._acks.get(partition)
        if batch is None:
            batch = self._acks[partition] = _AckBatch()
            batch.flush = asyncio.create_task(self._ack_batch(partition, stream, batch))
        batch.entry_ids.append(entry_id)
        batch.applied.extend(applied or ())
        # Shielded: a handler cancelled now leaves the others' acknowledgements to go out.
        await asyncio.shield(batch.flush)

    async def _ack_batch(self, partition: int, stream: str, batch: _AckBatch) -> None:
        """Mark applied and acknowledge (`XACK` + `XDEL`) every event of a shard settled in
        the same turn of the event loop, in one round trip (two on a cluster). Until it
        returns, their handlers are not done (a shard is handed back only once they are),
        and if it fails each handler settles again; an event handled but never
        acknowledged is replayed, which is harmless (`bot.applied_marks` says why)."""
        await asyncio.sleep(0)  # let the handlers finishing in this turn join the batch
        if self._acks.get(partition) is batch:
            del self._acks[partition]
        marks = batch.applied
        if self._marks_apart and marks:
            # The marks first, all in one round trip: a crash between the two leaves events
            # marked but not acknowledged, which a replay finds applied and only acknowledges.
            await self._write_marks(marks)
            marks = []
        # One script rather than MULTI/HSET/XACK/XDEL/EXEC: one reply to read, not many.
        await self._mark_ack_and_delete(keys=[stream, *marks], args=[GROUP, *batch.entry_ids])

    async def _renew_while_handing_back(self) -> None:
        """While the worker stops: renew the leases of the shards being handed back every
        third of a lease, as `run` did, until every one is released. Without it, a handler
        still sending two thirds of a lease after the last renewal would wait in
        `clear_to_send` for a renewal that never comes, until the cut-off cancels it."""
        pause = self.lease_ms / 3000
        while self._releasing:
            try:
                await self._renew_leases()
            except StorageUnavailable as exc:
                # Handlers whose leases are no longer sure wait; the cut-off ends them.
                log.warning("inbox: Redis unreachable, retrying", extra={"error": str(exc)})
            except Exception:
                log.exception("inbox: lease renewal failed")
            releasing = list(self._releasing.values())
            if releasing:
                await asyncio.wait(releasing, timeout=pause)

    async def _release_abandoned(
        self, partitions: list[int], cancelled: list[asyncio.Task[None]]
    ) -> None:
        """After the shutdown cut-off: once the cancelled handlers of a shard are done, free
        its lease (renewed until the cut-off), so the next owner replays their events at
        once instead of a lease later. A shard whose handlers are still unwinding a second
        on is left to its lease running out."""
        unwinding: set[asyncio.Task[None]] = set()
        if cancelled:
            _, unwinding = await asyncio.wait(cancelled, timeout=_UNWIND_SECONDS)
        busy = {task.get_name() for task in unwinding}
        for partition in partitions:
            if f"inbox:{partition}" in busy:
                continue
            with contextlib.suppress(Exception):
                await self._free_lease(partition)

    async def _shutdown(self) -> None:
        cut_off = False
        handing_back: list[int] = []
        try:
            with contextlib.suppress(Exception):
                await self._hand_back(self.owned_partitions)
                # (At the cut-off the wait below cancels these hand-backs, which then
                # leave `_releasing`: their shards are remembered here.)
                handing_back = list(self._releasing)
                releasing = list(self._releasing.values())
                renewing = asyncio.create_task(self._renew_while_handing_back())
                try:
                    await asyncio.wait_for(
                        asyncio.gather(*releasing, return_exceptions=True),
                        self.shutdown_cut_off,
                    )
                except TimeoutError:
                    cut_off = True
                    log.warning(
                        "inbox: handlers still running at the shutdown cut-off are cancelled;"
                        " their events stay pending for the next owner",
                        extra={"worker": self.worker_id, "running": len(self._tasks)},
                    )
                finally:
                    renewing.cancel()
        finally:
            # Even when the wait above is cancelled (the process is stopping and will not
            # wait longer): handlers left running would fail on closed clients, and their
            # events be dead-lettered, instead of staying pending for the next owner.
            self._stopping = True
            cancelled = [*self._releasing.values(), *self._tasks]
            for task in cancelled:
                task.cancel()
        if cut_off:
            await self._release_abandoned(handing_back, cancelled)
        with contextlib.suppress(Exception):
            await self.inbox.redis.zrem(self.inbox.keys.workers(), self.worker_id)
        log.info("inbox worker stopped", extra={"worker": self.worker_id, "cut_off": cut_off})

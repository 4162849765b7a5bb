"""A send to a customer or a desk goes out only while the worker handling its event surely
still owns the event's inbox shard.

An inbox worker owns a shard through a lease, and one that stalls past it (starved of CPU,
stopped, a long pause) loses the shard: another worker takes it over and replays what was
not finished. A handler that had already decided when the stall began would, once it runs
again, still send what it decided, after the new owner's replay and answers to what came
next: an answer out of order, a LINE menu switched back the wrong way. So the worker gives
each handler task a *guard* (`guard_sends`), a context variable that the tasks it starts
inherit, and every send (`bot.delivery`) passes `clear_to_send` first. (A task a handler
starts is not the worker's to cancel: were it to send after the shard was lost, it would
wait until the worker stops. None sends today; LINE's loading animation calls LINE itself.)

Code outside a worker's handlers has no guard and sends at once: the web process's own
sends (agents' replies and actions), the CLI, the retries of parked sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

# Returns once the lease on the shard is surely held; when the shard is lost instead, the
# worker cancels the waiting task (the guard never returns then).
LeaseGuard = Callable[[], Awaitable[None]]

_guard: ContextVar[LeaseGuard | None] = ContextVar("tsunagu_send_guard", default=None)


def guard_sends(guard: LeaseGuard) -> None:
    """Make every send of the current task, and of the tasks it starts from now on, wait
    for `guard` (set by the inbox worker in each handler task)."""
    _guard.set(guard)


async def clear_to_send() -> None:
    """Return when a send may go out now; call it right before each one.

    Outside a worker's handler: at once. Inside one: once the worker's lease on the event's
    shard is surely its own (the worker's rule, `InboxWorker._while_held`: until two thirds
    of a lease after the last renewal was sent; later, only after a renewal succeeded).
    If the shard was lost, the worker cancels the handler while it waits here, so nothing
    is sent. That is safe, as a crash at the same point is: the event's decision was saved
    before any send and the event was neither marked applied nor acknowledged, so the new
    owner replays it, before anything the customer wrote later, and carries out the same
    effects (each idempotent) to the end.

    The check is as close to the send as the delivery gets. What is left is the time
    between it and the platform's API call (the sender's own Redis round trips): a stall of
    more than a third of a lease exactly there still sends late. A reply the new owner sent
    is then skipped by the sender's per-message marker; an order-sensitive call (a LINE
    menu switch) is not.
    """
    guard = _guard.get()
    if guard is not None:
        await guard()

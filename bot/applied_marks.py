"""An inbox event's "applied" mark, written in the round trip of its acknowledgement.

Once the dispatcher has carried a saved step's effects out, it marks the event applied
(`ConversationStore.mark_applied`), so that a twin delivery, or a replay, does nothing. In
a worker's handler, the event is acknowledged right after (`InboxWorker._settle`); the mark
and the acknowledgement would then be two round trips per event. So the worker gives each
handler task a holder (`hold_applied_marks`), a context variable as `bot.send_guard`'s
guard is, and the store hands its marks to it (`held_for_acknowledgement`) instead of
writing them. The worker writes them with the acknowledgement of the event's batch: on
one Redis server in the same script, so both or neither; on a cluster (the marks in the
customers' slots, the acknowledgement in the shard's) in one pipeline just before it.

Why this keeps the guarantees (docs/reliability.md):

- An event acknowledged is never replayed, and is marked applied: the marks are written
  before the acknowledgement (the same script, or an earlier round trip that succeeded).
- An event not acknowledged is replayed. Its mark may be missing (a crash before the
  acknowledgement), as it could be before: the replay finds the step saved but not applied
  and carries the same effects out again, each idempotent. Its mark may be there without
  the acknowledgement (a cluster, a crash between the two round trips): the replay finds
  it applied and does nothing but acknowledge it. A handler that gives its
  acknowledgement up (the worker stops while Redis does not answer, the shard is lost)
  writes its marks alone first, best effort (`InboxWorker._mark_alone`), so that its
  replay does not carry the effects out again.
- Until the acknowledgement returns, the handler task is not done, so the same
  customer's next event (chained behind it) starts only once the mark is written, and a
  twin delivery of it read behind it finds it applied, as it did before.
- Only the mark of the inbox event being handled is held (`Dispatcher.handle` asks for it
  with `with_acknowledgement`). Agents' actions are marked at once, wherever they run,
  since their pending intent is forgotten right after (`handoff.agents`); so is anything
  outside a worker's handler (no holder), and a mark asked for by a task the handler
  started, after the worker took the marks (`take`).
"""

from __future__ import annotations

from contextvars import ContextVar

# The mark: this field of the event's hash (`Keys.event`) set to "1".
APPLIED_FIELD = "applied"
APPLIED_VALUE = "1"


class AppliedMarks:
    """The keys of events whose effects were carried out during one handler's work, held
    until the worker writes them with its acknowledgement."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._taken = False

    def hold(self, event_key: str) -> bool:
        """Hold the mark of `event_key`; False once the worker has taken the marks (the
        caller must write it itself then)."""
        if self._taken:
            return False
        if event_key not in self._keys:
            self._keys.append(event_key)
        return True

    def take(self) -> list[str]:
        """The keys held; marks asked for from now on are written by their callers."""
        self._taken = True
        return list(self._keys)


_holder: ContextVar[AppliedMarks | None] = ContextVar("tsunagu_applied_marks", default=None)


def hold_applied_marks() -> AppliedMarks:
    """Make the applied marks of the current task, and of the tasks it starts from now on,
    wait for the worker's acknowledgement (set by the inbox worker in each handler task)."""
    holder = AppliedMarks()
    _holder.set(holder)
    return holder


def held_for_acknowledgement(event_key: str) -> bool:
    """True if the mark of `event_key` will be written with the acknowledgement of the
    inbox event being handled; False if the caller must write it now."""
    holder = _holder.get()
    return holder is not None and holder.hold(event_key)

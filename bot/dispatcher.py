"""The dispatcher: one event in, the conversation saved, the replies out.

    dedupe → load conversation → decide (bot/flow.py) → save atomically → carry effects out

The decision and its effects are saved in one Redis transaction before anything is sent,
so a crash at any point replays to the same outcome: an event already decided is not
decided again, and effects already carried out are skipped or are idempotent.
"""

from __future__ import annotations

import logging

from bot.conversation import ConversationStore, Effects, QueueAction
from bot.delivery import Delivery
from bot.flow import Flow
from bot.model import Inbound
from bot.ports import Desk, HandoffQueue, SurveyRecorder

log = logging.getLogger("tsunagu.dispatcher")

_MAX_RACES = 5


class Dispatcher:
    """Handles inbound events, one conversation at a time (the inbox guarantees that)."""

    def __init__(
        self,
        store: ConversationStore,
        flow: Flow,
        delivery: Delivery,
        queue: HandoffQueue,
        surveys: SurveyRecorder,
        desks: list[Desk] | None = None,
    ):
        self.store = store
        self.flow = flow
        self.delivery = delivery
        self.queue = queue
        self.surveys = surveys
        self.desks = desks if desks is not None else []

    async def handle(self, inbound: Inbound) -> None:
        """Handle one event exactly once in effect, however often it is delivered."""
        key = inbound.customer_key
        stored = await self.store.handled(key, inbound.event_id)
        if stored is None:
            effects = await self._decide_and_save(inbound)
        elif stored.applied:
            log.info("duplicate event ignored", extra={"event_id": inbound.event_id})
            return
        else:
            effects = stored.effects  # decided before a crash: finish the job
        if effects is None:
            return
        await self.apply(effects, key)
        await self.store.mark_applied(key, inbound.event_id)

    async def _decide_and_save(self, inbound: Inbound) -> Effects | None:
        for _ in range(_MAX_RACES):
            current = await self.store.load(inbound.customer_key)
            step = await self.flow.step(current, inbound)
            expected = current.version if current is not None else 0
            if await self.store.commit(inbound.event_id, step, expected):
                log.info(
                    "event handled",
                    extra={
                        "event_id": inbound.event_id,
                        "channel": inbound.channel.value,
                        "state": step.conversation.state.value,
                        "replies": len(step.effects.outgoing),
                    },
                )
                return step.effects
            # Lost a race with an agent's action (or a twin delivery): look again.
            stored = await self.store.handled(inbound.customer_key, inbound.event_id)
            if stored is not None:
                return None if stored.applied else stored.effects
        raise RuntimeError(f"conversation {inbound.customer_key} kept changing; will retry")

    async def apply(self, effects: Effects, customer_key: str) -> None:
        """Carry out a saved step's effects. Each is idempotent, so repeating is safe."""
        if effects.queue is QueueAction.ENQUEUE:
            await self.queue.enqueue(
                customer_key, queued_at=effects.queued_at or 0.0, priority=effects.queue_priority
            )
        elif effects.queue is QueueAction.DEQUEUE:
            await self.queue.dequeue(customer_key)
        await self.delivery.send(effects.outgoing)
        for event in effects.desk_events:
            for desk in self.desks:
                await desk.notify(event)
        if effects.survey_answer is not None:
            await self.surveys.record(effects.survey_answer)

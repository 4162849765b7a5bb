"""The dispatcher: one event in, the conversation saved, the replies out.

    dedupe → load conversation → decide (bot/flow) → save atomically → carry effects out

The decision and its effects are saved in one Redis transaction before anything is sent,
so a crash at any point replays to the same outcome: an event already decided is not
decided again, and effects already carried out are skipped or are idempotent.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from bot import metrics
from bot.archive import ConversationArchive
from bot.conversation import (
    Conversation,
    ConversationStore,
    Effects,
    QueueAction,
    Step,
    StoredEvent,
)
from bot.delivery import Delivery
from bot.flow import Flow
from bot.identity import Identities
from bot.model import ChannelName, Inbound, InboundKind
from bot.ports import Attendant, Desk, HandoffQueue
from bot.records import RecordStore
from bot.survey_webhook import SurveyWebhook
from bot.timers import Timers

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
        records: RecordStore,
        timers: Timers,
        *,
        desks: list[Desk] | None = None,
        attendants: dict[ChannelName, Attendant] | None = None,
        survey_webhook: SurveyWebhook | None = None,
        identities: Identities | None = None,
        archive: ConversationArchive | None = None,
    ):
        self.store = store
        self.flow = flow
        self.delivery = delivery
        self.queue = queue
        self.records = records
        self.timers = timers
        self.desks = desks if desks is not None else []
        self.attendants = attendants if attendants is not None else {}
        self.survey_webhook = survey_webhook
        self.identities = identities
        self.archive = archive

    async def handle(self, inbound: Inbound) -> None:
        """Handle one event exactly once in effect, however often it is delivered."""
        inbound, stored, current = await self._resolved_and_loaded(inbound)
        key = inbound.conversation_key
        if stored is None:
            attendant = self.attendants.get(inbound.channel)
            async with attendant.attend(inbound) if attendant else contextlib.nullcontext():
                decided = await self._decide_and_save(inbound, current)
                if decided is not None:
                    effects, conversation_id = decided
                    await self.finish(
                        key, inbound.event_id, effects, conversation_id, inbox_event=True
                    )
            return
        if stored.applied:
            log.info("duplicate event ignored", extra={"event_id": inbound.event_id})
            return
        # Decided before a crash: finish the job.
        effects = stored.effects
        conversation_id = effects.conversation_id or inbound.meta.get("conversation_id", "")
        if not conversation_id and effects.outgoing:
            conversation_id = effects.outgoing[0].conversation_id
        await self.finish(key, inbound.event_id, effects, conversation_id, inbox_event=True)

    async def _resolved_and_loaded(
        self, inbound: Inbound
    ) -> tuple[Inbound, StoredEvent | None, Conversation | None]:
        """`as_customer`, then what handling the event decided before (if it was) and the
        conversation: in one round trip when the customer is the one the inbox resolved
        when the event was put (almost always; else a second round trip)."""
        if self.identities is None or inbound.kind is InboundKind.TIMER:
            stored, current = await self.store.handled_and_load(
                inbound.conversation_key, inbound.event_id
            )
            return inbound, stored, current
        linked, stored, current = await self.store.linked_handled_and_load(
            inbound.customer_key, inbound.conversation_key, inbound.event_id
        )
        customer = linked or inbound.customer_key
        if customer == inbound.conversation_key:
            return inbound, stored, current
        # Linked (or unlinked) since the event was put: the store decides.
        inbound = inbound.model_copy(update={"customer": customer})
        stored, current = await self.store.handled_and_load(
            inbound.conversation_key, inbound.event_id
        )
        return inbound, stored, current

    async def as_customer(self, inbound: Inbound) -> Inbound:
        """`inbound` naming the customer its identity belongs to now.

        The inbox resolved it when the event was put (to keep a linked customer's events
        in one shard); linking may have happened since, and the store decides, so it is
        resolved again here. A timer already names the conversation's own key.
        """
        if self.identities is None or inbound.kind is InboundKind.TIMER:
            return inbound
        customer = await self.identities.resolve(inbound.customer_key)
        if customer == (inbound.customer or inbound.customer_key):
            return inbound
        return inbound.model_copy(update={"customer": customer})

    async def finish(
        self,
        customer_key: str,
        event_id: str,
        effects: Effects,
        conversation_id: str,
        *,
        inbox_event: bool = False,
    ) -> None:
        """Carry out a committed step's effects, then mark its event applied.

        Customer events and agents' actions both end here; until the mark is set, a replay
        carries the same effects out again (each is idempotent). The mark of an event
        handled from the inbox (`inbox_event`) goes out with its acknowledgement when an
        inbox worker handles it (`bot.applied_marks`); an agent's action is marked at once,
        before its pending intent is forgotten.
        """
        await self.apply(effects, customer_key, conversation_id)
        await self.store.mark_applied(customer_key, event_id, with_acknowledgement=inbox_event)

    async def _decide_and_save(
        self, inbound: Inbound, current: Conversation | None
    ) -> tuple[Effects, str] | None:
        for race in range(_MAX_RACES):
            if race > 0:
                current = await self.store.load(inbound.conversation_key)
            if inbound.kind is InboundKind.TIMER and current is None:
                return None  # the conversation expired; nothing is left to time
            step = await self.flow.step(current, inbound)
            await self._named_for_agents(step)
            expected = current.version if current is not None else 0
            if await self.store.commit(inbound.event_id, step, expected):
                _count(inbound, step.effects)
                log.info(
                    "event handled",
                    extra={
                        "event_id": inbound.event_id,
                        "channel": inbound.channel,
                        "kind": inbound.kind.value,
                        "state": step.conversation.state.value,
                        "replies": len(step.effects.outgoing),
                    },
                )
                return step.effects, step.conversation.id
            # Lost a race with an agent's action (or a twin delivery): look again.
            stored = await self.store.handled(inbound.conversation_key, inbound.event_id)
            if stored is not None:
                return None
        raise RuntimeError(f"conversation {inbound.conversation_key} kept changing; will retry")

    async def _named_for_agents(self, step: Step) -> None:
        """Agents are about to hear of a conversation that has no customer name (its
        first escalation, a low score): ask the customer's channel for it now, so the
        desks show it from their first post. A channel looks a name up only then, not for
        every new customer (most never meet an agent)."""
        conversation = step.conversation
        if conversation.display_name or not step.effects.desk_events:
            return
        name = await self._customer_name(conversation.contact_key, conversation.customer_key)
        if not name:
            return
        conversation.display_name = name
        for entry in step.transcript:
            if entry.sender == "customer" and entry.channel == conversation.channel:
                entry.sender_name = entry.sender_name or name

    async def _customer_name(self, contact_key: str, customer_key: str) -> str | None:
        """The customer's name from the first of their identities whose channel knows it:
        the one they wrote from, then those linked to it (a LINE customer who asks for a
        person on the web widget is shown by their LINE name)."""
        name = await self._name_on_channel(contact_key)
        if name or self.identities is None:
            return name
        for member in await self.identities.members(customer_key):
            if member != contact_key and (name := await self._name_on_channel(member)):
                return name
        return None

    async def _name_on_channel(self, identity: str) -> str | None:
        """The name the channel of `identity` (`channel:user_id`) knows, if it can tell."""
        channel, _, user_id = identity.partition(":")
        attendant = self.attendants.get(channel)
        return await attendant.display_name(user_id) if attendant is not None else None

    async def apply(self, effects: Effects, customer_key: str, conversation_id: str) -> None:
        """Carry out a saved step's effects. Each is idempotent, so repeating is safe.

        Bookkeeping in Redis comes first, the customer's replies next, then what may be
        slow (desks, the survey webhook), so a slow Slack never delays a customer. Replies
        and desk notices a platform cannot take now are parked for a retry
        (`bot.outbound`), so an outage never holds the event up.
        """
        if effects.queue is QueueAction.ENQUEUE:
            await self.queue.enqueue(
                customer_key, queued_at=effects.queued_at or 0.0, priority=effects.queue_priority
            )
        elif effects.queue is QueueAction.DEQUEUE:
            await self.queue.dequeue(customer_key)
        if effects.wait_seconds is not None:
            await self.queue.record_wait(effects.wait_seconds)
            metrics.WAIT_SECONDS.observe(effects.wait_seconds)
        new_responses = [
            response
            for response in effects.survey_responses
            if await self.records.add(
                response, dedupe_id=f"{response.conversation_id}:{response.question}"
            )
        ]
        if effects.conversation_record is not None:
            record = effects.conversation_record
            await self.records.add(record, dedupe_id=record.conversation_id)
            if self.archive is not None:
                await self.archive.ended(record, customer_key)
        if effects.unanswered is not None:
            unanswered = effects.unanswered
            await self.records.add(
                unanswered, dedupe_id=f"{unanswered.conversation_id}:{unanswered.time}"
            )
        for labelled in (effects.faq_choice, effects.faq_rejected):
            if labelled is not None:
                await self.records.add(
                    labelled, dedupe_id=f"{labelled.conversation_id}:{labelled.time}"
                )
        if effects.agent_answered is not None:
            answered = effects.agent_answered
            await self.records.add(answered, dedupe_id=answered.conversation_id)
        archive, opened_at = self.archive, effects.opened_at

        def bookkeeping(pipe: Any) -> None:
            # Timers and the archive's index, in the round trip of the delivery's own check
            # (both idempotent, so their order among the records above does not matter).
            for timer in effects.timers:
                self.timers.arm_in(pipe, timer, customer_key, conversation_id)
            if archive is not None and opened_at is not None:
                archive.opened_in(pipe, conversation_id, customer_key, opened_at)

        wanted = bool(effects.timers) or (archive is not None and opened_at is not None)
        await self.delivery.send(effects.outgoing, writes=bookkeeping if wanted else None)
        for event in effects.desk_events:
            await self.delivery.notify(event, self.desks)
        if self.survey_webhook is not None:
            for response in new_responses:
                try:
                    await self.survey_webhook.send(response)
                except Exception as exc:
                    # Best effort: the response is recorded either way.
                    log.error("survey webhook gave up", extra={"error": str(exc)})


def _count(inbound: Inbound, effects: Effects) -> None:
    channel = inbound.channel
    metrics.MESSAGES.labels(channel, inbound.kind.value).inc()
    for outgoing in effects.outgoing:
        metrics.REPLIES.labels(channel, outgoing.reply.kind.value).inc()
    if effects.queue is QueueAction.ENQUEUE:
        metrics.HANDOFFS.labels(channel).inc()
    for response in effects.survey_responses:
        metrics.SURVEY_RESPONSES.labels(response.question, str(response.score)).inc()

"""What agents do to a conversation: claim, reply, release, close.

Every action is a compare-and-set on the conversation's own state, so two agents pressing
"Claim" at once get exactly one winner, whichever desk (Slack, the web console) they use.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Literal

from bot import metrics
from bot.conversation import (
    Conversation,
    ConversationState,
    DeskEvent,
    Timer,
    TimerKind,
    TranscriptEntry,
)
from bot.delivery import Delivery
from bot.flow import Flow
from bot.model import Outgoing, Reply, ReplyKind
from bot.ports import Desk
from bot.records import AgentAnswered, RecordStore
from bot.texts import language_of
from bot.timers import Timers
from handoff.queue import RedisHandoffQueue
from handoff.store import RedisConversationStore

_MAX_RACES = 10


class ConversationNotFound(Exception):
    """No live conversation for that customer."""


@dataclass(frozen=True)
class ActionResult:
    """What came of an agent's action; `holder` names who has the conversation now."""

    ok: bool
    state: ConversationState
    holder: str | None = None
    reason: str = ""


class AgentActions:
    """The agent-side transitions of the conversation state machine."""

    def __init__(
        self,
        store: RedisConversationStore,
        queue: RedisHandoffQueue,
        delivery: Delivery,
        flow: Flow,
        records: RecordStore,
        timers: Timers,
        desks: list[Desk] | None = None,
    ):
        self.store = store
        self.queue = queue
        self.delivery = delivery
        self.flow = flow
        self.records = records
        self.timers = timers
        self.desks = desks if desks is not None else []

    async def claim(self, customer_key: str, agent: str) -> ActionResult:
        """Take a queued conversation. Exactly one of several simultaneous claims wins."""
        for _ in range(_MAX_RACES):
            conversation = await self._load(customer_key)
            if conversation.state is not ConversationState.QUEUED:
                holder = (
                    conversation.agent
                    if conversation.state is ConversationState.WITH_AGENT
                    else None
                )
                reason = (
                    f"already taken by {holder}"
                    if holder
                    else f"not waiting ({conversation.state})"
                )
                return ActionResult(False, conversation.state, holder, reason)
            expected = conversation.version
            conversation.state = ConversationState.WITH_AGENT
            conversation.agent = agent
            conversation.claimed_at = time.time()
            conversation.updated_at = conversation.claimed_at
            if await self.store.save(conversation, expected):
                await self.queue.dequeue(customer_key)
                if conversation.queued_at is not None:
                    waited = conversation.claimed_at - conversation.queued_at
                    await self.queue.record_wait(waited)
                    metrics.WAIT_SECONDS.observe(waited)
                language = language_of(conversation.locale)
                text = self.flow.texts.get("agent_joined", language, agent=agent)
                await self._say(
                    conversation, Reply(text=text, kind=ReplyKind.NOTICE), f"claim:{expected}"
                )
                return ActionResult(True, conversation.state, agent)
        raise RuntimeError("conversation kept changing during claim")

    async def reply(
        self, customer_key: str, agent: str, text: str, message_id: str
    ) -> ActionResult:
        """Send the claiming agent's words to the customer (idempotent on `message_id`)."""
        conversation = await self._load(customer_key)
        if conversation.state is not ConversationState.WITH_AGENT or conversation.agent != agent:
            return ActionResult(
                False, conversation.state, conversation.agent, "not your conversation"
            )
        reply = Reply(text=text, kind=ReplyKind.AGENT, sender=agent)
        await self._say(conversation, reply, f"agent:{message_id}", sender="agent", name=agent)
        if conversation.first_response_at is None:
            at = time.time()
            await self._note_first_response(customer_key, at)
            await self._note_agent_answer(conversation, agent, text, at)
        return ActionResult(True, conversation.state, agent)

    async def _note_agent_answer(
        self, conversation: Conversation, agent: str, text: str, at: float
    ) -> None:
        """The first reply to questions the bot could not answer: an example to learn from."""
        if not conversation.unanswered_questions:
            return
        record = AgentAnswered(
            questions=list(conversation.unanswered_questions),
            reply=text,
            agent=agent,
            customer_key=conversation.customer_key,
            channel=conversation.channel,
            conversation_id=conversation.id,
            time=at,
        )
        await self.records.add(record, dedupe_id=conversation.id)

    async def _note_first_response(self, customer_key: str, at: float) -> None:
        """Remember when the agent first answered (for first-response time)."""
        for _ in range(_MAX_RACES):
            conversation = await self._load(customer_key)
            if conversation.first_response_at is not None:
                return
            expected = conversation.version
            conversation.first_response_at = at
            if await self.store.save(conversation, expected):
                return

    async def release(self, customer_key: str, agent: str) -> ActionResult:
        """Put the conversation back in the queue, at the place it had."""
        for _ in range(_MAX_RACES):
            conversation = await self._load(customer_key)
            if (
                conversation.state is not ConversationState.WITH_AGENT
                or conversation.agent != agent
            ):
                return ActionResult(
                    False, conversation.state, conversation.agent, "not your conversation"
                )
            expected = conversation.version
            conversation.state = ConversationState.QUEUED
            conversation.agent = None
            conversation.updated_at = time.time()
            if await self.store.save(conversation, expected):
                await self.queue.enqueue(
                    customer_key,
                    queued_at=conversation.queued_at or time.time(),
                    priority=conversation.priority,
                )
                text = self.flow.texts.get("agent_released", language_of(conversation.locale))
                await self._say(
                    conversation, Reply(text=text, kind=ReplyKind.NOTICE), f"release:{expected}"
                )
                return ActionResult(True, conversation.state)
        raise RuntimeError("conversation kept changing during release")

    async def close(self, customer_key: str, agent: str) -> ActionResult:
        """End the conversation: the customer is asked the CES question, then back to the bot."""
        for _ in range(_MAX_RACES):
            conversation = await self._load(customer_key)
            if conversation.state not in (ConversationState.WITH_AGENT, ConversationState.QUEUED):
                return ActionResult(False, conversation.state, conversation.agent, "not open")
            if conversation.state is ConversationState.WITH_AGENT and conversation.agent != agent:
                return ActionResult(
                    False, conversation.state, conversation.agent, "not your conversation"
                )
            expected = conversation.version
            now = time.time()
            config = self.flow.ctx.config
            conversation.agent = conversation.agent or agent
            conversation.updated_at = now
            last = conversation.last_surveyed_at
            ask = not conversation.surveyed and (
                last is None or now - last >= config.survey_cooldown_seconds
            )
            if ask:
                conversation.state = ConversationState.SURVEY
                conversation.surveyed = True
                conversation.survey_index = 0
                conversation.last_surveyed_at = now
            else:
                conversation.state = ConversationState.CLOSED
            if await self.store.save(conversation, expected):
                await self.queue.dequeue(customer_key)
                if ask:
                    reply = self.flow.survey_reply(language_of(conversation.locale))
                    await self._say(conversation, reply, f"close:{expected}")
                    timeout = Timer(
                        kind=TimerKind.SURVEY_TIMEOUT, due_at=now + config.survey_timeout_seconds
                    )
                    await self.timers.arm(timeout, customer_key, conversation.id)
                else:
                    record = conversation.to_record(now)
                    await self.records.add(record, dedupe_id=record.conversation_id)
                return ActionResult(True, conversation.state)
        raise RuntimeError("conversation kept changing during close")

    async def follow_up(self, customer_key: str, agent: str) -> ActionResult:
        """Reopen a customer's finished conversation with `agent` (after a low score).

        The new conversation starts with the agent, keeps the transcript for context, and is
        announced to the desks like an escalation so the agent can reply from there.
        """
        for _ in range(_MAX_RACES):
            current = await self.store.load(customer_key)
            if current is None:
                raise ConversationNotFound(customer_key)
            if current.state in (ConversationState.QUEUED, ConversationState.WITH_AGENT):
                holder = current.agent or "the queue"
                return ActionResult(
                    False, current.state, current.agent, f"already with a person ({holder})"
                )
            now = time.time()
            conversation = Conversation(
                channel=current.channel,
                user_id=current.user_id,
                state=ConversationState.WITH_AGENT,
                locale=current.locale,
                display_name=current.display_name,
                started_at=now,
                updated_at=now,
                agent=agent,
                queued_at=now,
                claimed_at=now,
                last_surveyed_at=current.last_surveyed_at,
            )
            if current.state is not ConversationState.CLOSED:
                # Still answering the survey or talking to the bot: that one ends here.
                record = current.to_record(now)
                await self.records.add(record, dedupe_id=record.conversation_id)
            if await self.store.save(conversation, current.version):
                text = self.flow.texts.get(
                    "follow_up_notice", language_of(conversation.locale), agent=agent
                )
                await self._say(conversation, Reply(text=text, kind=ReplyKind.NOTICE), "follow-up")
                event = DeskEvent(
                    kind="escalated",
                    customer_key=customer_key,
                    conversation_id=conversation.id,
                    text="follow-up after a low survey score",
                )
                for desk in self.desks:
                    await desk.notify(event)
                return ActionResult(True, conversation.state, agent)
        raise RuntimeError("conversation kept changing during follow-up")

    async def _load(self, customer_key: str) -> Conversation:
        conversation = await self.store.load(customer_key)
        if conversation is None:
            raise ConversationNotFound(customer_key)
        return conversation

    async def _say(
        self,
        conversation: Conversation,
        reply: Reply,
        action_id: str,
        *,
        sender: Literal["bot", "agent"] = "bot",
        name: str | None = None,
    ) -> None:
        seed = f"{conversation.id}:{action_id}"
        message_id = hashlib.sha256(seed.encode()).hexdigest()[:32]
        await self.store.append_transcript(
            conversation.customer_key,
            TranscriptEntry(
                sender=sender, sender_name=name, text=reply.text, kind=reply.kind.value
            ),
            once_per=message_id,
        )
        outgoing = Outgoing(
            message_id=message_id,
            channel=conversation.channel,
            user_id=conversation.user_id,
            conversation_id=conversation.id,
            reply=reply,
        )
        await self.delivery.send([outgoing])

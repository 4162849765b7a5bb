"""Agents' actions, carried out the way customer events are.

    note the intent → decide (bot/flow/agent_turn.py) → one Lua commit of step + effects
    keyed by the action's event id → apply the effects (the dispatcher's applier) → mark
    applied → forget the intent

The commit is compare-and-set on the conversation's version, so of two agents pressing
"Claim" at once exactly one wins, whichever desk they use. A retried request (same action
id) finds its committed step and finishes it instead of deciding again. An action whose
process died between commit and effects is finished by `recover`, which every inbox worker
runs at start-up and every `RECOVER_EVERY_SECONDS`: the intent noted first says where to
look.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from bot.actor import Actor
from bot.conversation import Conversation, ConversationState, Step
from bot.dispatcher import Dispatcher
from bot.flow import Flow
from bot.flow.agent_turn import AgentAction, AgentRequest, Refusal, decide
from bot.store.conversations import TRANSCRIPT_CAP, RedisConversationStore

log = logging.getLogger("tsunagu.agents")

_MAX_RACES = 10
RECOVER_EVERY_SECONDS = 30.0
# An intent that never got committed is dropped only once no request can still be running.
ABANDONED_AFTER_SECONDS = 300.0


class ConversationNotFound(Exception):
    """No live conversation for that customer."""


@dataclass(frozen=True)
class ActionResult:
    """What came of an agent's action; `holder` is who has the conversation now.

    `duplicate` is True when the action id had been committed before: this request only
    finished (or found finished) what the first one decided.
    """

    ok: bool
    state: ConversationState
    holder: Actor | None = None
    reason: str = ""
    duplicate: bool = False


def new_action_id() -> str:
    """An id for a request whose desk gave none (returned to the caller to retry with)."""
    return uuid.uuid4().hex


class AgentActions:
    """Claim, reply, release, close, take over and follow up, committed like events.

    Each takes an `action_id` naming the request: a retry with the same id (by the same
    agent) finishes the first instead of acting twice. Without one, a fresh id is used.
    """

    def __init__(
        self,
        store: RedisConversationStore,
        dispatcher: Dispatcher,
        flow: Flow,
        redis: Redis,
        pending_key: str,
    ):
        self.store = store
        self.dispatcher = dispatcher
        self.flow = flow
        self.clock = flow.clock  # one clock per runtime
        self._redis = redis
        self._pending_key = pending_key

    # -- the actions -------------------------------------------------------------------

    async def claim(
        self,
        customer_key: str,
        actor: Actor,
        *,
        action_id: str | None = None,
        conversation_id: str | None = None,
    ) -> ActionResult:
        """Take a waiting customer. Exactly one of several simultaneous claims wins."""
        return await self._simple(
            AgentAction.CLAIM, customer_key, actor, action_id, conversation_id
        )

    async def reply(
        self,
        customer_key: str,
        actor: Actor,
        text: str,
        *,
        action_id: str | None = None,
        conversation_id: str | None = None,
        to: str | None = None,
    ) -> ActionResult:
        """Send the holder's words to the customer (once per `action_id`); `to`: one of the
        customer's linked identities to send them to (default: where they last wrote)."""
        request = AgentRequest(
            AgentAction.REPLY, actor, action_id or new_action_id(), conversation_id, text, to
        )
        return await self.act(customer_key, request)

    async def release(
        self,
        customer_key: str,
        actor: Actor,
        *,
        action_id: str | None = None,
        conversation_id: str | None = None,
    ) -> ActionResult:
        """Put the conversation back in the queue, at the place it had."""
        return await self._simple(
            AgentAction.RELEASE, customer_key, actor, action_id, conversation_id
        )

    async def close(
        self,
        customer_key: str,
        actor: Actor,
        *,
        action_id: str | None = None,
        conversation_id: str | None = None,
    ) -> ActionResult:
        """End the conversation: the survey if one may be asked, else closed."""
        return await self._simple(
            AgentAction.CLOSE, customer_key, actor, action_id, conversation_id
        )

    async def take_over(
        self,
        customer_key: str,
        actor: Actor,
        *,
        action_id: str | None = None,
        conversation_id: str | None = None,
    ) -> ActionResult:
        """Take a conversation another agent holds (recorded in the transcript and record)."""
        return await self._simple(
            AgentAction.TAKEOVER, customer_key, actor, action_id, conversation_id
        )

    async def follow_up(
        self, customer_key: str, actor: Actor, *, action_id: str | None = None
    ) -> ActionResult:
        """Reopen a customer's finished conversation with `actor` (after a low score)."""
        return await self._simple(AgentAction.FOLLOW_UP, customer_key, actor, action_id, None)

    async def _simple(
        self,
        action: AgentAction,
        customer_key: str,
        actor: Actor,
        action_id: str | None,
        conversation_id: str | None,
    ) -> ActionResult:
        """`action` (one that carries no words) by `actor`, once per `action_id`."""
        request = AgentRequest(action, actor, action_id or new_action_id(), conversation_id)
        return await self.act(customer_key, request)

    # -- the pipeline ------------------------------------------------------------------

    async def act(self, customer_key: str, request: AgentRequest) -> ActionResult:
        """Decide, commit and carry out one request; a retry of it finishes the first."""
        outcome = await self.commit(customer_key, request)
        if isinstance(outcome, Refusal):
            return ActionResult(False, outcome.state, outcome.holder, outcome.reason)
        duplicate = outcome is None
        await self._finish(customer_key, request.event_id)
        conversation = await self._load(customer_key)
        log.info(
            "agent action",
            extra={
                "action": request.action.value,
                "agent_id": request.actor.id,
                "customer_key": customer_key,
                "state": conversation.state.value,
                "duplicate": duplicate,
            },
        )
        return ActionResult(True, conversation.state, conversation.agent, duplicate=duplicate)

    async def commit(self, customer_key: str, request: AgentRequest) -> Step | Refusal | None:
        """Note the intent, decide the request and commit its step; no effects yet.

        Returns the committed step, the refusal, or None when the request's event id was
        committed before (a retry). `act` is this plus the effects; on its own, it leaves
        what a crash right after the commit leaves, which `recover` finishes.
        """
        await self._note_intent(customer_key, request.event_id)
        try:
            outcome = await self._decide_and_commit(customer_key, request)
        except ConversationNotFound:
            await self._forget_intent(customer_key, request.event_id)
            raise
        if isinstance(outcome, Refusal):
            await self._forget_intent(customer_key, request.event_id)
        return outcome

    async def _decide_and_commit(
        self, customer_key: str, request: AgentRequest
    ) -> Step | Refusal | None:
        for _ in range(_MAX_RACES):
            if await self.store.handled(customer_key, request.event_id) is not None:
                return None
            current = await self._load(customer_key)
            earlier = (
                await self.store.transcript(customer_key, TRANSCRIPT_CAP)
                if request.action is AgentAction.FOLLOW_UP
                else []
            )
            outcome = decide(self.flow.ctx, current, request, self.clock.now(), transcript=earlier)
            if isinstance(outcome, Refusal):
                return outcome
            if await self.store.commit(request.event_id, outcome, current.version):
                return outcome
            # Lost a race with a customer's event or another agent: look again.
        raise RuntimeError(f"conversation {customer_key} kept changing during {request.action}")

    async def recover(
        self, *, now: float | None = None, older_than: float = RECOVER_EVERY_SECONDS
    ) -> int:
        """Finish actions committed but not carried out (their process died); returns how many.

        Looks only at intents noted more than `older_than` seconds ago, so a request still
        running elsewhere is normally left to finish itself (if both do, the effects are
        idempotent).
        """
        now = self.clock.now() if now is None else now
        due = cast(
            list[tuple[str, float]],
            await self._redis.zrangebyscore(
                self._pending_key, "-inf", now - older_than, withscores=True
            ),
        )
        finished = 0
        for raw, noted_at in due:
            member = str(raw)
            customer_key, event_id = _unpack(member)
            stored = await self.store.handled(customer_key, event_id)
            if stored is None:
                if now - float(noted_at) >= ABANDONED_AFTER_SECONDS:
                    await self._redis.zrem(self._pending_key, member)
                continue
            if not stored.applied:
                await self._finish(customer_key, event_id)
                finished += 1
                log.warning(
                    "agent action finished after a crash",
                    extra={"customer_key": customer_key, "event_id": event_id},
                )
            await self._redis.zrem(self._pending_key, member)
        return finished

    async def recover_forever(self, stop: asyncio.Event) -> None:
        """`recover` at start-up (everything pending), then every `RECOVER_EVERY_SECONDS`."""
        older_than = 0.0
        while not stop.is_set():
            try:
                await self.recover(older_than=older_than)
            except Exception as exc:  # a Redis outage: try again next round
                log.error("agent action recovery failed", extra={"error": str(exc)})
            older_than = RECOVER_EVERY_SECONDS
            try:
                await asyncio.wait_for(stop.wait(), RECOVER_EVERY_SECONDS)
            except TimeoutError:
                pass

    async def _finish(self, customer_key: str, event_id: str) -> None:
        stored = await self.store.handled(customer_key, event_id)
        if stored is not None and not stored.applied:
            effects = stored.effects
            await self.dispatcher.finish(customer_key, event_id, effects, effects.conversation_id)
        await self._forget_intent(customer_key, event_id)

    async def _note_intent(self, customer_key: str, event_id: str) -> None:
        await self._redis.zadd(self._pending_key, {_pack(customer_key, event_id): time.time()})

    async def _forget_intent(self, customer_key: str, event_id: str) -> None:
        await self._redis.zrem(self._pending_key, _pack(customer_key, event_id))

    async def _load(self, customer_key: str) -> Conversation:
        conversation = await self.store.load(customer_key)
        if conversation is None:
            raise ConversationNotFound(customer_key)
        return conversation

    async def pending(self) -> Sequence[str]:
        """Intents not yet finished (for tests and operators)."""
        return [str(m) for m in await self._redis.zrange(self._pending_key, 0, -1)]


def _pack(customer_key: str, event_id: str) -> str:
    return json.dumps([customer_key, event_id])


def _unpack(member: str) -> tuple[str, str]:
    customer_key, event_id = json.loads(member)
    return str(customer_key), str(event_id)

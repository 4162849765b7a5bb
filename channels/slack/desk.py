"""The Slack desk: escalations posted to a Slack channel, handled from their threads.

Each escalation is one message in the handoff channel (who, what was said, which FAQ
entries the bot tried, earlier conversations) with Claim / Release / Close buttons; its
thread carries the customer's later messages, and the claiming agent's replies in it go
to the customer. While a Slack agent holds the conversation, the thread also gets the FAQ
answers suggested for the customer's latest message, each with a "Send this answer" button
for the holder. Every post is guarded by a marker in Redis, so a replayed desk event or a
redelivered Slack event never posts or relays twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from bot.actor import SLACK, Actor
from bot.conversation import Conversation, ConversationState, DeskEvent
from bot.faq import FaqLibrary
from bot.flow.agent_turn import AgentAction, AgentRequest, holds
from bot.identity import Identities
from bot.records import RecordStore
from bot.storage import Keys
from bot.store.conversations import TRANSCRIPT_CAP, RedisConversationStore
from channels.slack.blocks import (
    FOLLOW_UP,
    HISTORY_SHOWN,
    LINE_LIMIT,
    action_note,
    answer_sent_note,
    button,
    clip,
    context,
    desk_action_note,
    escape,
    exactly,
    note,
    section,
    status_blocks,
    suggestion_blocks,
    transcript_text,
    when,
)
from channels.slack.keys import SlackKeys
from channels.slack.settings import NAME
from handoff.agents import ActionResult, AgentActions, ConversationNotFound
from handoff.history import customer_history
from handoff.suggestions import Suggestion, Suggestions, suggestion_record, suggestions_for

log = logging.getLogger("tsunagu.slack.desk")


class EscalationThread(BaseModel):
    """One escalation message in the handoff channel, and the conversation it is about."""

    channel: str
    ts: str
    customer_key: str
    conversation_id: str
    queued_at: float | None = None
    blocks: list[dict[str, Any]]  # the unchanging part: status and buttons are added
    survey: list[str] = Field(default_factory=list, description='Answers given: "CES 6/7".')


class SuggestionPost(BaseModel):
    """FAQ answers posted in an escalation's thread: what each "Send this answer" sends."""

    thread_ts: str
    suggestions: Suggestions

    def find(self, faq_id: str) -> Suggestion | None:
        """The suggestion a button names, as the agent saw it."""
        return next((s for s in self.suggestions.suggestions if s.faq_id == faq_id), None)


class SlackDesk:
    """`bot.ports.Desk` on Slack, and the handlers of its buttons and thread replies."""

    def __init__(
        self,
        client: AsyncWebClient,
        redis: Redis,
        *,
        key_prefix: str,
        handoff_channel: str | None,
        store: RedisConversationStore,
        agents: AgentActions,
        faq: FaqLibrary,
        records: RecordStore,
        name_of: Callable[[str], Awaitable[str]],
        transcript_lines: int = 15,
        ttl_seconds: int = 30 * 24 * 3600,
        dedupe_ttl_seconds: int = 7 * 24 * 3600,
        channel_labels: Mapping[str, str] | None = None,
    ):
        self.client = client
        # How each channel is named to agents (from the channel registry).
        self._channel_labels = dict(channel_labels or {})
        self.channel = handoff_channel
        self._redis = redis
        self._keys = SlackKeys.of(key_prefix)
        self._store = store
        self._agents = agents
        self._faq = faq
        self._records = records
        self._name_of = name_of
        self._lines = transcript_lines
        self._ttl = ttl_seconds
        self._dedupe_ttl = dedupe_ttl_seconds
        self._identities = Identities(redis, Keys(key_prefix))

    # -- keys and records ------------------------------------------------------------------

    def _thread_key(self, customer_key: str) -> str:
        return self._keys.customer_thread(customer_key)

    def _ts_key(self, ts: str) -> str:
        return self._keys.thread(ts)

    def _suggestion_key(self, ts: str) -> str:
        return self._keys.suggestions(ts)

    def _marker_key(self, customer_key: str, marker: str) -> str:
        return self._keys.desk_marker(customer_key, marker)

    async def thread_of(self, customer_key: str) -> EscalationThread | None:
        """The customer's latest escalation thread, if any."""
        raw = await self._redis.get(self._thread_key(customer_key))
        return EscalationThread.model_validate_json(raw) if raw else None

    async def thread_at(self, ts: str) -> EscalationThread | None:
        """The escalation whose message has this timestamp, if it is one."""
        raw = await self._redis.get(self._ts_key(ts))
        return EscalationThread.model_validate_json(raw) if raw else None

    async def _remember(self, thread: EscalationThread) -> None:
        doc = thread.model_dump_json()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._thread_key(thread.customer_key), doc, ex=self._ttl)
            pipe.set(self._ts_key(thread.ts), doc, ex=self._ttl)
            await pipe.execute()

    @asynccontextmanager
    async def _once(self, customer_key: str, marker: str) -> AsyncIterator[bool]:
        """True the first time `marker` is seen; forgotten again if the work then fails."""
        key = self._marker_key(customer_key, marker)
        first = bool(await self._redis.set(key, "1", nx=True, ex=self._dedupe_ttl))
        try:
            yield first
        except BaseException:
            if first:
                await self._redis.delete(key)
            raise

    # -- the desk ------------------------------------------------------------------------

    async def notify(self, event: DeskEvent) -> None:
        """Post the event to the handoff channel (once, however often it is replayed)."""
        if not self.channel:
            return
        if event.kind == "escalated":
            await self._escalate(event)
            return
        if event.kind == "low_score":
            await self._alert_low_score(event)
            return
        thread = await self.thread_of(event.customer_key)
        if thread is None or thread.conversation_id != event.conversation_id:
            if event.kind != "rated":  # most surveys follow a conversation the bot alone had
                log.info("no escalation thread for desk event", extra={"kind": event.kind})
            return
        if event.kind == "customer_message":
            await self._relay_customer_message(thread, event)
            return
        if event.kind == "rated":
            await self._show_rating(thread, event)
            return
        if event.kind in ("claimed", "released", "agent_closed"):
            # Done elsewhere (the console): say so in the thread, as a button press here does.
            if event.agent_id and not event.agent_id.startswith(f"{SLACK}:"):
                # Its time names the action: a replay is one note, a second claim another.
                marker = f"{thread.ts}:{event.kind}:{event.agent_id}:{event.time}"
                async with self._once(event.customer_key, marker) as first:
                    if first:
                        await self._post_in_thread(thread, desk_action_note(event))
            # Show who holds it now, and the right buttons.
            await self.refresh(thread)
            return
        digest = hashlib.sha256(event.text.encode()).hexdigest()[:16]
        async with self._once(event.customer_key, f"{thread.ts}:{event.kind}:{digest}") as first:
            if not first:
                return
            await self._post_in_thread(thread, note(event))
            if event.kind in ("cancelled", "closed", "taken_over"):
                await self.refresh(thread)

    async def _escalate(self, event: DeskEvent) -> None:
        key = event.customer_key
        conversation = await self._store.load(key)
        if conversation is None or conversation.id != event.conversation_id:
            return  # a replay of an escalation long gone
        current = await self.thread_of(key)
        if (
            current is not None
            and current.conversation_id == conversation.id
            and (conversation.queued_at is None or current.queued_at == conversation.queued_at)
        ):
            return  # posted already
        marker = f"escalated:{conversation.id}:{conversation.queued_at}"
        async with self._once(key, marker) as first:
            if not first:
                return
            blocks = await self._escalation_blocks(conversation, event.text)
            response = await self.client.chat_postMessage(
                channel=self.channel or "",
                text=f"New escalation: {escape(conversation.display_name or key)}",
                blocks=[*blocks, *status_blocks(conversation.id, conversation)],
                unfurl_links=False,
            )
            thread = EscalationThread(
                channel=str(response["channel"]),
                ts=str(response["ts"]),
                customer_key=key,
                conversation_id=conversation.id,
                queued_at=conversation.queued_at,
                blocks=blocks,
            )
            await self._remember(thread)
        # An agent elsewhere may have acted while we posted: show the state as it is now.
        latest = await self._store.load(key)
        if latest is None or latest.state is not ConversationState.QUEUED:
            await self.refresh(thread, latest)

    async def _alert_low_score(self, event: DeskEvent) -> None:
        """A bad survey answer: post it with the transcript and a Follow up button."""
        key = event.customer_key
        conversation = await self._store.load(key)
        if conversation is None or conversation.id != event.conversation_id:
            return
        async with self._once(key, f"low_score:{conversation.id}") as first:
            if not first:
                return
            channel = self._channel_labels.get(conversation.channel, conversation.channel)
            who = escape(conversation.display_name or conversation.user_id)
            agent = conversation.agent_name
            handled = f"with {escape(agent)}" if agent else "bot only"
            blocks: list[dict[str, Any]] = [
                section(
                    f":chart_with_downwards_trend: *Low survey score {escape(event.text)}* from "
                    f"*{who}* on *{channel}* ({handled})"
                ),
                context(
                    f"`{escape(key)}` · {when(conversation.updated_at, '{date_short} {time}')}"
                ),
                *await self._story_blocks(conversation),
            ]
            follow = {
                "type": "actions",
                "block_id": "actions",
                "elements": [button("Follow up", FOLLOW_UP, conversation.id, "primary")],
            }
            response = await self.client.chat_postMessage(
                channel=self.channel or "",
                text=f"Low survey score from {escape(conversation.display_name or key)}",
                blocks=[*blocks, follow],
                unfurl_links=False,
            )
            # Remembered by its timestamp only: the button finds the customer from it.
            alert = EscalationThread(
                channel=str(response["channel"]),
                ts=str(response["ts"]),
                customer_key=key,
                conversation_id=conversation.id,
                queued_at=None,
                blocks=blocks,
            )
            await self._redis.set(self._ts_key(alert.ts), alert.model_dump_json(), ex=self._ttl)

    async def _follow_up(
        self, alert: EscalationThread, actor: Actor, action_id: str
    ) -> ActionResult:
        try:
            result = await self._agents.follow_up(alert.customer_key, actor, action_id=action_id)
        except ConversationNotFound:
            return ActionResult(False, ConversationState.CLOSED, None, "the customer is gone")
        if result.ok:
            await self.client.chat_update(
                channel=alert.channel,
                ts=alert.ts,
                text="Low survey score (followed up)",
                blocks=[
                    *alert.blocks,
                    section(
                        f":telephone_receiver: *{escape(actor.name)}* ({exactly(actor)}) is "
                        "following up (a new escalation was opened)",
                        "status",
                    ),
                ],
            )
        return result

    async def _show_rating(self, thread: EscalationThread, event: DeskEvent) -> None:
        """A survey answer: noted in the thread and shown on the escalation message."""
        digest = hashlib.sha256(event.text.encode()).hexdigest()[:16]
        async with self._once(event.customer_key, f"{thread.ts}:rated:{digest}") as first:
            if not first:
                return
            thread.survey.append(event.text)
            await self._remember(thread)
            await self._post_in_thread(thread, note(event))
        await self.refresh(thread)

    async def _relay_customer_message(self, thread: EscalationThread, event: DeskEvent) -> None:
        # The same words twice are two messages: count them so each is posted once.
        entries = await self._store.transcript(event.customer_key, limit=TRANSCRIPT_CAP)
        same = sum(1 for e in entries if e.sender == "customer" and e.text == event.text)
        digest = hashlib.sha256(event.text.encode()).hexdigest()[:16]
        async with self._once(
            event.customer_key, f"{thread.ts}:msg:{digest}:{max(1, same)}"
        ) as first:
            if first:
                await self._post_in_thread(
                    thread, f":speech_balloon: *Customer:* {escape(event.text)}"
                )
                await self._suggest(thread)

    async def _post_in_thread(self, thread: EscalationThread, text: str) -> None:
        await self.client.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, text=text, unfurl_links=False
        )

    async def _suggest(self, thread: EscalationThread) -> None:
        """Post the FAQ answers for the customer's latest message, if a Slack agent holds
        the conversation and some fit. A helpful extra: a failure is logged, never retried."""
        try:
            conversation = await self._store.load(thread.customer_key)
            if (
                conversation is None
                or conversation.id != thread.conversation_id
                or conversation.state is not ConversationState.WITH_AGENT
                or conversation.agent is None
                or not conversation.agent.id.startswith(f"{SLACK}:")
            ):
                return  # nobody here could press the buttons
            suggestions = await suggestions_for(self._store, self._faq, conversation)
            if not suggestions.suggestions:
                return
            posted = await self.client.chat_postMessage(
                channel=thread.channel,
                thread_ts=thread.ts,
                text="FAQ answers for the customer's latest message",
                blocks=suggestion_blocks(suggestions),
                unfurl_links=False,
            )
            post = SuggestionPost(thread_ts=thread.ts, suggestions=suggestions)
            await self._redis.set(
                self._suggestion_key(str(posted["ts"])), post.model_dump_json(), ex=self._ttl
            )
        except Exception as exc:  # Slack or Redis down: the agent can still type a reply
            log.warning("suggestions not posted", extra={"error": str(exc)})

    async def refresh(
        self, thread: EscalationThread, conversation: Conversation | None = None
    ) -> None:
        """Show the conversation's current state and the buttons that fit it."""
        if conversation is None:
            conversation = await self._store.load(thread.customer_key)
        await self.client.chat_update(
            channel=thread.channel,
            ts=thread.ts,
            text=f"Escalation: {escape(thread.customer_key)}",
            blocks=[
                *thread.blocks,
                *status_blocks(thread.conversation_id, conversation, thread.survey),
            ],
        )

    # -- what agents do in Slack -----------------------------------------------------------

    async def actor(self, user_id: str) -> Actor:
        """The Slack user as an agent: their id decides, their display name is shown."""
        return Actor.slack(user_id, await self._name_of(user_id))

    async def on_button(
        self, action: AgentAction, message_ts: str, user_id: str, action_id: str
    ) -> ActionResult:
        """Claim, release, close or take over the escalation whose button `user_id` pressed.

        `action_id` names this press (Slack's `action_ts`), so a redelivery is one action.
        """
        thread = await self.thread_at(message_ts)
        if thread is None:
            result = ActionResult(False, ConversationState.CLOSED, None, "unknown escalation")
            await self._tell(user_id, None, result.reason)
            return result
        actor = await self.actor(user_id)
        action_id = f"slack:{message_ts}:{action_id}"
        if action is AgentAction.FOLLOW_UP:
            result = await self._follow_up(thread, actor, action_id)
            if not result.ok:
                await self._tell(user_id, thread, result.reason)
            return result
        request = AgentRequest(action, actor, action_id, conversation_id=thread.conversation_id)
        try:
            result = await self._agents.act(thread.customer_key, request)
        except ConversationNotFound:
            result = ActionResult(
                False, ConversationState.CLOSED, None, "this conversation is over"
            )
        if result.ok:
            if action is not AgentAction.TAKEOVER:  # a takeover is noted as a desk event
                await self._post_in_thread(thread, action_note(action, actor, result))
            await self.refresh(thread)
            if action in (AgentAction.CLAIM, AgentAction.TAKEOVER) and not result.duplicate:
                await self._suggest(thread)
        else:
            await self._tell(user_id, thread, result.reason)
            # The buttons pressed were out of date (another desk acted, say): show the state
            # as it is, once per state however many agents pressed.
            latest = await self._store.load(thread.customer_key)
            version = latest.version if latest is not None else "gone"
            async with self._once(thread.customer_key, f"{thread.ts}:shown:{version}") as first:
                if first:
                    await self.refresh(thread, latest)
        log.info(
            "slack desk action",
            extra={
                "action": action.value,
                "agent_id": actor.id,
                "ok": result.ok,
                "reason": result.reason,
            },
        )
        return result

    async def on_send_answer(
        self, message_ts: str, user_id: str, faq_id: str, action_id: str
    ) -> ActionResult:
        """Send the suggested FAQ answer `faq_id` (posted at `message_ts`) as the holder's
        reply, and record that it was used as suggested.

        The reply is the same agent action as a typed one: only the holder may send it
        (others get an ephemeral refusal), and `action_id` (Slack's `action_ts`) makes a
        redelivered press one reply.
        """
        raw = await self._redis.get(self._suggestion_key(message_ts))
        post = SuggestionPost.model_validate_json(raw) if raw else None
        thread = await self.thread_at(post.thread_ts) if post else None
        suggestion = post.find(faq_id) if post else None
        if post is None or thread is None or suggestion is None:
            result = ActionResult(False, ConversationState.CLOSED, None, "unknown suggestion")
            await self._tell(user_id, thread, result.reason)
            return result
        actor = await self.actor(user_id)
        action_id = f"slack:{message_ts}:{action_id}"
        try:
            result = await self._agents.reply(
                thread.customer_key,
                actor,
                suggestion.answer,
                action_id=action_id,
                conversation_id=thread.conversation_id,
            )
        except ConversationNotFound:
            result = ActionResult(
                False, ConversationState.CLOSED, None, "this conversation is over"
            )
        if not result.ok:
            await self._tell(user_id, thread, result.reason)
            return result
        conversation = await self._store.load(thread.customer_key)
        if conversation is not None and conversation.id == thread.conversation_id:
            # Recorded once per press, a retry after a crash included.
            await self._records.add(
                suggestion_record(
                    conversation,
                    actor,
                    message=post.suggestions.message or "",
                    faq_id=faq_id,
                    outcome="used",
                    now=self._records.clock.now(),
                    score=suggestion.score,
                ),
                dedupe_id=action_id,
            )
        if not result.duplicate:
            await self._post_in_thread(thread, answer_sent_note(actor, suggestion.question))
        log.info(
            "slack desk answer sent",
            extra={"agent_id": actor.id, "faq_id": faq_id, "duplicate": result.duplicate},
        )
        return result

    async def on_thread_message(
        self, thread_ts: str, user_id: str, text: str, message_id: str
    ) -> bool:
        """Relay the holder's thread reply to the customer; others' are discussion."""
        thread = await self.thread_at(thread_ts)
        if thread is None or not text:
            return False
        conversation = await self._store.load(thread.customer_key)
        actor = await self.actor(user_id)
        if conversation is None or not holds(conversation, actor):
            return False  # discussion: only the holder (by Slack id) speaks to the customer
        try:
            result = await self._agents.reply(
                thread.customer_key,
                actor,
                text,
                action_id=f"slack:{message_id}",
                conversation_id=thread.conversation_id,
            )
        except ConversationNotFound:
            return False
        return result.ok and not result.duplicate

    async def _tell(self, user_id: str, thread: EscalationThread | None, reason: str) -> None:
        """An ephemeral note only the agent who pressed the button sees."""
        await self.client.chat_postEphemeral(
            channel=thread.channel if thread else (self.channel or ""),
            user=user_id,
            text=f"Not done: {reason}.",
            thread_ts=thread.ts if thread else None,
        )

    # -- the escalation message ------------------------------------------------------------

    async def _escalation_blocks(
        self, conversation: Conversation, asked: str
    ) -> list[dict[str, Any]]:
        key = conversation.customer_key
        channel = self._channel_labels.get(conversation.channel, conversation.channel)
        who = escape(conversation.display_name or conversation.user_id)
        if conversation.channel == NAME:
            who = f"<@{conversation.user_id}>"
        blocks: list[dict[str, Any]] = [
            section(
                f":sos: *{who}* on *{channel}* asks for a person"
                + (f"\n>{escape(clip(asked, LINE_LIMIT))}" if asked else "")
            ),
            context(
                f"`{escape(key)}` · language {conversation.locale or '?'} · "
                f"conversation started {when(conversation.started_at, '{date_short} {time}')}"
            ),
        ]
        blocks.extend(await self._story_blocks(conversation))
        history = await customer_history(self._store, self._identities, key)
        if history:
            blocks.append(context(self._history_text(history)))
        return blocks

    async def _story_blocks(self, conversation: Conversation) -> list[dict[str, Any]]:
        """The transcript so far and the FAQ entries the bot tried."""
        blocks: list[dict[str, Any]] = []
        transcript = await self._store.transcript(conversation.customer_key, limit=self._lines)
        if transcript:
            text = transcript_text(transcript, self._channel_labels, conversation.display_name)
            blocks.append(section(text))
        tried = self._faq_tried(conversation)
        if tried:
            blocks.append(context(tried))
        return blocks

    def _label(self, entry_id: str, locale: str | None) -> str:
        entry = self._faq.entry(entry_id)
        return escape(entry.label_for(locale)) if entry is not None else escape(entry_id)

    def _faq_tried(self, conversation: Conversation) -> str:
        parts = []
        answered = list(dict.fromkeys(conversation.faq_answered))
        suggested = [i for i in dict.fromkeys(conversation.faq_suggested) if i not in answered]
        if answered:
            labels = ", ".join(self._label(i, conversation.locale) for i in answered)
            parts.append(f"*FAQ answered:* {labels}")
        if suggested:
            labels = ", ".join(self._label(i, conversation.locale) for i in suggested)
            parts.append(f"*FAQ suggested:* {labels}")
        return " · ".join(parts)

    def _history_text(self, history: list[dict[str, Any]]) -> str:
        lines = [f"*Earlier conversations:* {len(history)}"]
        for item in history[:HISTORY_SHOWN]:
            closed = item.get("closed_at")
            day = when(float(closed), "{date_short}") if isinstance(closed, int | float) else "?"
            agent = item.get("agent")
            faq = item.get("faq_answered") or []
            detail = f"with {escape(str(agent))}" if agent else "bot only"
            if item.get("channel"):
                channel = str(item["channel"])
                detail = f"{escape(self._channel_labels.get(channel, channel))} · {detail}"
            if faq:
                detail += " · FAQ " + ", ".join(self._label(str(i), None) for i in faq)
            lines.append(f"• {day} — {detail}")
        return "\n".join(lines)

"""Handing a conversation to a person, and what the customer hears while waiting."""

from __future__ import annotations

import datetime as dt
import math

from bot import intents
from bot.conversation import ConversationState, QueueAction, TimerKind
from bot.flow.builder import StepBuilder
from bot.flow.config import HANDOFF
from bot.flow.context import FlowContext
from bot.model import ReplyKind


async def hand_off(ctx: FlowContext, b: StepBuilder) -> None:
    """Queue the conversation for an agent and tell the customer what happens next."""
    conversation = b.conversation
    already_queued = conversation.state is ConversationState.QUEUED
    if not already_queued:
        refusal = await _refusal(ctx, b)
        if refusal is not None:
            b.say(refusal, ReplyKind.NOTICE)
            return
        conversation.state = ConversationState.QUEUED
        conversation.queued_at = b.now
        conversation.bot_failures = 0
        conversation.priority = _priority(ctx, b)
        b.effects.queue = QueueAction.ENQUEUE
        b.effects.queued_at = b.now
        b.effects.queue_priority = conversation.priority
        b.desk("escalated", b.inbound.text)
        position = await ctx.queue.count_ahead(queued_at=b.now, priority=conversation.priority) + 1
    else:
        position = await ctx.queue.position(conversation.customer_key) or 1

    now = dt.datetime.fromtimestamp(b.now, dt.UTC)
    hours = ctx.config.hours
    if not hours.is_open(now):
        opening = hours.next_opening(now)
        when = _format_opening(opening, b.language) if opening else b.text("wait_unknown")
        b.say("handoff_after_hours", ReplyKind.NOTICE, when=when)
        return
    wait = await ctx.queue.estimated_wait_seconds()
    wait_text = (
        b.text("wait_unknown")
        if wait is None
        else b.text("wait_minutes", minutes=max(1, math.ceil(wait / 60)))
    )
    b.say("handoff_queued", ReplyKind.NOTICE, position=position, wait=wait_text)
    if not already_queued:
        b.arm(TimerKind.QUEUE_TIMEOUT, ctx.config.queue_timeout_seconds)


async def queued_turn(ctx: FlowContext, b: StepBuilder) -> None:
    """While waiting: messages go to the agents; 'cancel' returns to the bot."""
    text = b.inbound.text
    if intents.asks_to_cancel(text):
        b.conversation.state = ConversationState.BOT
        b.conversation.queued_at = None
        b.effects.queue = QueueAction.DEQUEUE
        b.desk("cancelled")
        b.say("handoff_cancelled", ReplyKind.NOTICE)
    elif intents.asks_for_human(text) or b.inbound.payload == HANDOFF:
        await hand_off(ctx, b)  # tells them their place again
    else:
        b.desk("customer_message", text)


def queue_timeout(ctx: FlowContext, b: StepBuilder) -> None:
    """Nobody took the customer in time: say so honestly and ping the agents again."""
    b.say("handoff_no_agent", ReplyKind.NOTICE)
    b.desk("unclaimed", "no agent has taken this conversation yet")


async def _refusal(ctx: FlowContext, b: StepBuilder) -> str | None:
    """Why the queue cannot take this customer now (the name of the text that says so), or
    None. The caps keep one flood from burying every other customer's request: the whole
    queue is capped, and so are the escalations asked from one client address in an hour.
    The queue cap is checked, not reserved: escalations decided at the same moment may
    overshoot it by as many as are in flight (it is a guard against floods, not a quota).
    """
    config = ctx.config
    if config.queue_max and await ctx.queue.length() >= config.queue_max:
        return "handoff_queue_full"
    origin, per_hour = b.inbound.origin, config.escalations_per_origin_per_hour
    if origin and per_hour and await ctx.queue.count_escalation(origin, 3600) > per_hour:
        return "handoff_too_many"
    return None


def _priority(ctx: FlowContext, b: StepBuilder) -> int:
    """1 for a VIP or an urgent topic (the admin's rules), else 0."""
    config = ctx.config
    if b.conversation.customer_key in config.vip_customers:
        return 1
    words = config.priority_words
    urgent = any(
        intents.mentions_any(entry.text, words)
        for entry in b.step.transcript
        if entry.sender == "customer"
    )
    return 1 if urgent or intents.mentions_any(b.inbound.text, words) else 0


def _format_opening(opening: dt.datetime, language: str) -> str:
    weekday_ja = "月火水木金土日"[opening.weekday()]
    if language == "ja":
        return f"{opening.month}月{opening.day}日（{weekday_ja}）{opening:%H:%M}"
    return opening.strftime("%a %d %b, %H:%M")

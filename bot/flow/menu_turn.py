"""Menu taps: back to the bot, how the wait is going, the common questions.

A channel's persistent menu (LINE's rich menus) sends these as choices whatever the state of
the conversation, so each is decided for every state here. While a person is coming or
talking, the common questions are answered by the bot without leaving the person: the
answer goes to the customer and the desks see what was read.
"""

from __future__ import annotations

from bot.conversation import ConversationState, QueueAction, TimerKind
from bot.flow.bot_turn import faq_choice, human_choice
from bot.flow.builder import StepBuilder
from bot.flow.config import BACK_TO_BOT, FAQ_MENU, FAQ_PREFIX, QUEUE_STATUS
from bot.flow.context import FlowContext
from bot.flow.handoff_turn import hand_off
from bot.model import InboundKind, Reply, ReplyKind

MENU_PAYLOADS = (BACK_TO_BOT, QUEUE_STATUS, FAQ_MENU)


def is_menu_tap(b: StepBuilder) -> bool:
    """The event is a tap on one of the menu's own buttons."""
    return b.inbound.kind is InboundKind.CHOICE and b.inbound.payload in MENU_PAYLOADS


async def menu_turn(ctx: FlowContext, b: StepBuilder) -> None:
    """Answer a menu tap, whatever the state (a tap instead of a survey's rating carries
    on with the bot, like any other message that is not a rating)."""
    if b.conversation.state is ConversationState.SURVEY:
        b.conversation.state = ConversationState.BOT
    payload, state = b.inbound.payload, b.conversation.state
    if payload == FAQ_MENU:
        faq_menu(ctx, b)
    elif payload == QUEUE_STATUS:
        if state is ConversationState.QUEUED:
            await hand_off(ctx, b)  # already queued: tells the place and the wait again
        elif state is ConversationState.WITH_AGENT:
            agent = b.conversation.agent_name or ""
            b.say("status_with_agent", ReplyKind.NOTICE, agent=agent)
        else:
            b.say("status_not_waiting", ReplyKind.NOTICE, [human_choice(b)])
    elif state is ConversationState.QUEUED:  # back to the bot
        leave_person(b, "handoff_cancelled")
    elif state is ConversationState.WITH_AGENT:
        leave_person(b, "back_to_bot")
    else:
        faq_menu(ctx, b)  # already with the bot (a person-mode menu left behind)
    if b.conversation.state is ConversationState.BOT:
        b.arm(TimerKind.IDLE, ctx.config.idle_close_seconds)


def faq_menu(ctx: FlowContext, b: StepBuilder) -> None:
    """The most asked questions as buttons."""
    topics = ctx.faq.top_entries(ctx.config.greeting_topics)
    b.say("faq_menu", ReplyKind.GREETING, [faq_choice(b, entry) for entry in topics])


def leave_person(b: StepBuilder, text_name: str) -> None:
    """The customer leaves the queue or the agent and carries on with the bot."""
    conversation = b.conversation
    conversation.state = ConversationState.BOT
    conversation.queued_at = conversation.queued_at if conversation.agent_id else None
    b.effects.queue = QueueAction.DEQUEUE
    b.desk("cancelled", "the customer went back to the bot")
    b.say(text_name, ReplyKind.NOTICE)


def answer_while_with_person(ctx: FlowContext, b: StepBuilder) -> bool:
    """A common question tapped while a person is coming or talking: the bot answers it
    (without asking whether it solved anything) and the desks see it. False: not one."""
    payload = b.inbound.payload or ""
    if b.inbound.kind is not InboundKind.CHOICE or not payload.startswith(FAQ_PREFIX):
        return False
    entry = ctx.faq.entry(payload.removeprefix(FAQ_PREFIX))
    if entry is None:
        return False
    b.conversation.faq_answered.append(entry.id)
    b.reply(
        Reply(text=entry.answer_for(b.language), kind=ReplyKind.ANSWER, faq_id=entry.id),
        [entry.id],
    )
    b.desk("customer_message", f"{b.inbound.text} (answered from the FAQ: {entry.id})")
    return True

"""The bot's turn: greet, answer from the FAQ, suggest, or admit it doesn't know."""

from __future__ import annotations

from bot import intents
from bot.conversation import FaqTurn, TimerKind
from bot.faq import FaqEntry, Outcome
from bot.flow.builder import StepBuilder
from bot.flow.config import (
    FAQ_PREFIX,
    HANDOFF,
    HELPFUL_NO,
    HELPFUL_YES,
    NONE_OF_THESE,
)
from bot.flow.context import FlowContext
from bot.flow.handoff_turn import hand_off
from bot.flow.survey_turn import finish
from bot.model import Choice, InboundKind, Reply, ReplyKind
from bot.records import FaqChoice, FaqRejected, UnansweredMessage


async def bot_turn(ctx: FlowContext, b: StepBuilder) -> None:
    """Handle a customer's event while the bot has the conversation."""
    inbound, payload = b.inbound, b.inbound.payload or ""
    if inbound.kind is InboundKind.FOLLOW:
        greet(ctx, b)
    elif inbound.kind is InboundKind.MEDIA:
        b.say("media_unsupported", ReplyKind.FALLBACK, [human_choice(b)])
    elif inbound.kind is InboundKind.CHOICE:
        await _choice(ctx, b, payload)
    elif intents.asks_for_human(inbound.text, ctx.config.handoff_trigger_words):
        await hand_off(ctx, b)
    elif intents.says_thanks(inbound.text):
        finish(ctx, b)
    else:
        await _consult_faq(ctx, b)
    if b.conversation.state.value == "bot":
        # Quiet for a while: the worker ends the conversation (and asks the survey).
        b.arm(TimerKind.IDLE, ctx.config.idle_close_seconds)


async def _choice(ctx: FlowContext, b: StepBuilder, payload: str) -> None:
    if payload.startswith(FAQ_PREFIX):
        entry = ctx.faq.entry(payload.removeprefix(FAQ_PREFIX))
        if entry is None:  # removed from the FAQ since the button was shown
            await no_answer(ctx, b)
        else:
            _note_choice(b, entry.id)
            answer(ctx, b, entry)
    elif payload == HANDOFF:
        await hand_off(ctx, b)
    elif payload == HELPFUL_YES:
        b.conversation.faq_turn = None
        finish(ctx, b)
    elif payload in (HELPFUL_NO, NONE_OF_THESE):
        _note_not_solved(b)
        await no_answer(ctx, b)
    else:
        # A stale button (an old survey, an earlier conversation): read it as text.
        await _consult_faq(ctx, b)


async def _consult_faq(ctx: FlowContext, b: StepBuilder) -> None:
    decision = ctx.faq.decide(b.inbound.text, b.language)
    turn = b.conversation.faq_turn = FaqTurn(question=b.inbound.text)
    if decision.outcome is Outcome.ANSWER:
        answer(ctx, b, decision.candidates[0].entry)
    elif decision.outcome is Outcome.SUGGEST:
        entries = [scored.entry for scored in decision.candidates[:3]]
        choices = [faq_choice(b, entry) for entry in entries]
        choices.append(Choice(label=b.text("none_of_these"), payload=NONE_OF_THESE))
        turn.suggested = [entry.id for entry in entries]
        b.conversation.faq_suggested.extend(turn.suggested)
        b.say("suggest", ReplyKind.SUGGEST, choices, turn.suggested)
    else:
        b.conversation.note_unanswered(b.inbound.text)
        best = decision.best
        b.effects.unanswered = UnansweredMessage(
            text=b.inbound.text,
            channel=b.conversation.channel,
            conversation_id=b.conversation.id,
            best_faq_id=best.entry.id if best else None,
            best_score=round(best.score, 3) if best else None,
            time=b.now,
        )
        await no_answer(ctx, b)


def _note_choice(b: StepBuilder, faq_id: str) -> None:
    """A tap on an FAQ button: a "did you mean…?" choice labels the customer's words.

    Only the first tap among the choices counts (a second one says the first was wrong);
    a topic button of the greeting labels nothing.
    """
    conversation, turn = b.conversation, b.conversation.faq_turn
    if turn is None or faq_id not in turn.suggested:
        conversation.faq_turn = FaqTurn()  # a topic button: no question behind it
        return
    if turn.question and turn.answered is None:
        b.effects.faq_choice = FaqChoice(
            question=turn.question,
            faq_id=faq_id,
            offered=list(turn.suggested),
            customer_key=conversation.customer_key,
            channel=conversation.channel,
            conversation_id=conversation.id,
            time=b.now,
        )
    # The answer to come is still an answer to the customer's question (for 「解決しない」).
    conversation.faq_turn = FaqTurn(question=turn.question, suggested=turn.suggested)


def _note_not_solved(b: StepBuilder) -> None:
    """「解決しない」 rejects the entry answered; either way the question stays unanswered."""
    conversation, turn = b.conversation, b.conversation.faq_turn
    conversation.faq_turn = None
    if turn is None:
        return  # a stale button: nothing on record to reject
    if turn.answered is not None and b.inbound.payload == HELPFUL_NO:
        b.effects.faq_rejected = FaqRejected(
            faq_id=turn.answered,
            question=turn.question,
            customer_key=conversation.customer_key,
            channel=conversation.channel,
            conversation_id=conversation.id,
            time=b.now,
        )
    if turn.question and (turn.answered or turn.suggested):
        conversation.note_unanswered(turn.question)  # (already noted if nothing was offered)


def answer(ctx: FlowContext, b: StepBuilder, entry: FaqEntry) -> None:
    """Answer with an FAQ entry (and ask whether it solved the problem).

    An answer does not reset the count of failures: only the customer can say it helped.
    """
    turn = b.conversation.faq_turn or FaqTurn()
    b.conversation.faq_turn = turn.model_copy(update={"answered": entry.id})
    b.conversation.faq_answered.append(entry.id)
    b.reply(
        Reply(text=entry.answer_for(b.language), kind=ReplyKind.ANSWER, faq_id=entry.id),
        [entry.id],
    )
    if ctx.config.ask_if_solved:
        choices = [
            Choice(label=b.text("solved_yes"), payload=HELPFUL_YES),
            Choice(label=b.text("solved_no"), payload=HELPFUL_NO),
        ]
        b.say("solved_question", ReplyKind.NOTICE, choices)


async def no_answer(ctx: FlowContext, b: StepBuilder) -> None:
    """The bot could not help: after too many times in a row, hand off by itself."""
    b.conversation.bot_failures += 1
    if b.conversation.bot_failures >= ctx.config.failures_before_handoff:
        await hand_off(ctx, b)
    else:
        b.say("fallback", ReplyKind.FALLBACK, [human_choice(b)])


def greet(ctx: FlowContext, b: StepBuilder) -> None:
    """Say hello with the most asked topics as choices."""
    topics = ctx.faq.top_entries(ctx.config.greeting_topics)
    b.say("greeting", ReplyKind.GREETING, [faq_choice(b, entry) for entry in topics])


def faq_choice(b: StepBuilder, entry: FaqEntry) -> Choice:
    """A button that answers with `entry`."""
    return Choice(label=entry.label_for(b.language), payload=FAQ_PREFIX + entry.id)


def human_choice(b: StepBuilder) -> Choice:
    """A button that asks for a person."""
    return Choice(label=b.text("talk_to_human"), payload=HANDOFF)

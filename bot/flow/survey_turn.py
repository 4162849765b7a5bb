"""The end of a conversation: the survey questions, an optional comment, the record."""

from __future__ import annotations

from bot import intents
from bot.conversation import ConversationState, TimerKind
from bot.flow.builder import StepBuilder
from bot.flow.config import RATING_PREFIX, SKIP_COMMENT, SurveyQuestion
from bot.flow.context import FlowContext
from bot.model import Choice, InboundKind, Reply, ReplyKind
from bot.records import SurveyResponse


def survey_reply(ctx: FlowContext, question: SurveyQuestion, language: str) -> Reply:
    """A survey question with one button per point of its scale, the ends labelled."""
    texts = ctx.texts
    choices = []
    for n in range(question.low, question.high + 1):
        label = str(n)
        if n == question.low:
            label = f"{n} {texts.get(f'survey_{question.name}_low', language)}"
        elif n == question.high:
            label = f"{n} {texts.get(f'survey_{question.name}_high', language)}"
        choices.append(Choice(label=label, payload=f"{RATING_PREFIX}{n}"))
    text = texts.get(f"survey_{question.name}", language)
    return Reply(text=text, kind=ReplyKind.SURVEY, choices=choices)


def may_survey(ctx: FlowContext, b: StepBuilder) -> bool:
    """Ask only once per conversation, and not again within the cooldown."""
    conversation = b.conversation
    if conversation.surveyed or not ctx.config.questions:
        return False
    last = conversation.last_surveyed_at
    return last is None or b.now - last >= ctx.config.survey_cooldown_seconds


def ask_survey(ctx: FlowContext, b: StepBuilder) -> None:
    """Put the first survey question and wait for the rating."""
    conversation = b.conversation
    conversation.state = ConversationState.SURVEY
    conversation.surveyed = True
    conversation.survey_index = 0
    conversation.last_surveyed_at = b.now
    b.reply(survey_reply(ctx, ctx.config.questions[0], b.language))
    b.arm(TimerKind.SURVEY_TIMEOUT, ctx.config.survey_timeout_seconds)


def finish(ctx: FlowContext, b: StepBuilder) -> None:
    """The customer is done: ask the survey if the bot or an agent helped, else say bye."""
    helped = bool(b.conversation.faq_answered or b.conversation.agent_id)
    if helped and may_survey(ctx, b):
        ask_survey(ctx, b)
    else:
        b.say("goodbye", ReplyKind.NOTICE)
        b.close()


def survey_turn(ctx: FlowContext, b: StepBuilder) -> bool:
    """Read a rating (button or typed) or a comment. False: not one, the bot carries on."""
    conversation = b.conversation
    questions = ctx.config.questions
    if conversation.pending_score is not None:
        _take_comment(ctx, b)
        return True
    question = questions[min(conversation.survey_index, len(questions) - 1)]
    score = _rating(b, question)
    if score is None:
        # Not a rating: the customer carries on with the bot and is not asked again.
        conversation.state = ConversationState.BOT
        return False
    if question.name == "ces" and score <= ctx.config.survey_low_score_max:
        conversation.pending_score = score
        skip = Choice(label=b.text("survey_skip_comment"), payload=SKIP_COMMENT)
        b.say("survey_comment", ReplyKind.SURVEY, [skip])
        return True
    _record(b, question, score, comment=None)
    _next_question_or_thanks(ctx, b)
    return True


def _take_comment(ctx: FlowContext, b: StepBuilder) -> None:
    conversation = b.conversation
    score = conversation.pending_score
    assert score is not None
    comment = None
    if b.inbound.kind is InboundKind.TEXT:
        comment = b.inbound.text.strip() or None
    question = ctx.config.questions[conversation.survey_index]
    _record(b, question, score, comment)
    conversation.pending_score = None
    b.desk("low_score", f"{score}/{question.high}" + (f": {comment}" if comment else ""))
    _next_question_or_thanks(ctx, b)


def _next_question_or_thanks(ctx: FlowContext, b: StepBuilder) -> None:
    conversation = b.conversation
    conversation.survey_index += 1
    if conversation.survey_index < len(ctx.config.questions):
        b.reply(survey_reply(ctx, ctx.config.questions[conversation.survey_index], b.language))
        return
    conversation.survey_answered = True
    b.say("survey_thanks", ReplyKind.NOTICE)
    b.close()


def survey_timeout(ctx: FlowContext, b: StepBuilder) -> None:
    """Nobody answered the survey: keep a score already given, record the rest as unanswered."""
    conversation = b.conversation
    if conversation.pending_score is not None:
        question = ctx.config.questions[conversation.survey_index]
        _record(b, question, conversation.pending_score, comment=None)
        conversation.pending_score = None
        conversation.survey_answered = True
    b.close()


def _rating(b: StepBuilder, question: SurveyQuestion) -> int | None:
    inbound = b.inbound
    if inbound.kind is InboundKind.CHOICE and (inbound.payload or "").startswith(RATING_PREFIX):
        raw = (inbound.payload or "").removeprefix(RATING_PREFIX)
        return intents.read_rating(raw, question.low, question.high)
    if inbound.kind is InboundKind.TEXT:
        return intents.read_rating(inbound.text, question.low, question.high)
    return None


def _record(b: StepBuilder, question: SurveyQuestion, score: int, comment: str | None) -> None:
    conversation = b.conversation
    handle = (
        b.now - conversation.claimed_at
        if conversation.claimed_at and conversation.agent_id
        else None
    )
    wait = (
        conversation.claimed_at - conversation.queued_at
        if conversation.claimed_at and conversation.queued_at
        else None
    )
    # The desks show the score beside the escalation, whichever desk handled it.
    b.desk("rated", f"{question.name.upper()} {score}/{question.high}")
    b.effects.survey_responses.append(
        SurveyResponse(
            conversation_id=conversation.id,
            customer_key=conversation.customer_key,
            channel=conversation.channel,
            question=question.name,
            score=score,
            scale_low=question.low,
            scale_high=question.high,
            comment=comment,
            resolved_by=conversation.agent_name or "bot",
            agent_id=conversation.agent_id,
            faq_ids=list(conversation.faq_answered),
            wait_seconds=wait,
            handle_seconds=handle,
            time=b.now,
        )
    )

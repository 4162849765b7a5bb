"""Reading a period's records from the store and turning them into a `Report`."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from bot.faq import FaqLibrary
from bot.faq.learn import LearnSettings, learn
from bot.faq.proposal import FaqProposal
from bot.identity import Identities
from bot.panels import Panel
from bot.ports import PanelSource
from bot.records import (
    AgentAnswered,
    AgentSuggestion,
    ConversationRecord,
    FaqChoice,
    FaqRejected,
    HelpFeedback,
    HelpSearch,
    RecordStore,
    SurveyResponse,
    UnansweredMessage,
)
from bot.reports.compute import compute_report
from bot.reports.model import FaqProposals, Period, Report
from bot.reports.similar import Units, UnitsOf, plain_units


async def read_period(
    records: RecordStore, period: Period
) -> tuple[list[ConversationRecord], list[SurveyResponse], list[UnansweredMessage]]:
    """The ended conversations, survey answers and unanswered messages of a period."""
    since, until = period.since.timestamp(), period.until.timestamp()
    convs = [c async for c in records.read(ConversationRecord, since, until)]
    answers = [r async for r in records.read(SurveyResponse, since, until)]
    misses = [m async for m in records.read(UnansweredMessage, since, until)]
    return convs, answers, misses


class ViewCounts(Protocol):
    """Where help-center views are counted (`bot.helpcenter.store.HelpCenterStore`)."""

    async def views(self, since: float, until: float) -> dict[str, int]: ...


async def report_from_store(
    records: RecordStore,
    faq: FaqLibrary | None,
    period: Period,
    *,
    now: datetime | None = None,
    help_views: ViewCounts | None = None,
    panels: Sequence[PanelSource] = (),
    channel_labels: Mapping[str, str] | None = None,
) -> Report:
    """The report of a period; FAQ ids are shown with their questions when `faq` is given.

    With `help_views` (the help center is on), the report has its help-center section;
    `panels` add the configured channels' own figures as of now.
    """
    convs, answers, misses = await read_period(records, period)
    # A linked customer counts once: conversations ended before the link name the identity.
    identities = Identities(records.redis, records.keys)
    profile_of = await identities.resolve_many(sorted({c.customer_key for c in convs}))
    convs = [
        c
        if profile_of[c.customer_key] == c.customer_key
        else c.model_copy(update={"customer_key": profile_of[c.customer_key]})
        for c in convs
    ]
    since, until = period.since.timestamp(), period.until.timestamp()
    searches = [s async for s in records.read(HelpSearch, since, until)]
    feedback = [f async for f in records.read(HelpFeedback, since, until)]
    suggestions = [s async for s in records.read(AgentSuggestion, since, until)]
    views = await help_views.views(since, until) if help_views is not None else None
    questions = {e.id: e.question for e in faq.entries} if faq is not None else {}
    # Grouping messages by similarity is CPU work: keep the event loop free meanwhile.
    report = await asyncio.to_thread(
        compute_report,
        convs,
        answers,
        misses,
        period,
        faq_questions=questions,
        units_of=_units_of(faq) if faq is not None else None,
        now=now or datetime.fromtimestamp(records.clock.now(), period.since.tzinfo),
        help_views=views,
        help_searches=searches,
        help_feedback=feedback,
        agent_suggestions=suggestions,
        channel_labels=channel_labels,
    )
    report.panels = await read_panels(panels)
    if faq is None:
        return report
    proposal = await learn_from_store(records, faq, period, conversations=convs, unanswered=misses)
    waiting = FaqProposals(
        waiting=proposal.items,
        alternatives=sum(len(a.add) for a in proposal.alternatives),
        rejected=len(proposal.rejected),
        drafts=len(proposal.new),
        command=f"tsunagu faq learn --days {_days(period)}",
    )
    return report.model_copy(update={"faq_proposals": waiting})


async def read_panels(sources: Sequence[PanelSource]) -> list[Panel]:
    """Every source's panel as of now (sources with nothing to show are left out)."""
    found = [await source.panel() for source in sources]
    return [panel for panel in found if panel is not None]


def _days(period: Period) -> int:
    """The period's length in whole days (at least one)."""
    return max(1, math.ceil((period.until - period.since).total_seconds() / 86_400 - 1e-6))


def _units_of(faq: FaqLibrary) -> UnitsOf:
    """The FAQ analyzer's words and synonyms, so messages group by meaning."""
    analyzer = faq.index.analyzer

    def units_of(text: str) -> Units:
        return [unit for unit, _weight in analyzer.word_units(text)]

    return units_of


async def learn_from_store(
    records: RecordStore,
    faq: FaqLibrary | None,
    period: Period,
    *,
    settings: LearnSettings | None = None,
    conversations: list[ConversationRecord] | None = None,
    unanswered: list[UnansweredMessage] | None = None,
) -> FaqProposal:
    """What customers taught the FAQ over a period (see `bot.faq.learn`).

    Pass the period's conversations and unanswered messages if they were read already.
    """
    since, until = period.since.timestamp(), period.until.timestamp()
    if conversations is None:
        conversations = [c async for c in records.read(ConversationRecord, since, until)]
    if unanswered is None:
        unanswered = [m async for m in records.read(UnansweredMessage, since, until)]
    choices = [c async for c in records.read(FaqChoice, since, until)]
    rejections = [r async for r in records.read(FaqRejected, since, until)]
    agent_answers = [a async for a in records.read(AgentAnswered, since, until)]
    help_searches = [s async for s in records.read(HelpSearch, since, until)]
    help_feedback = [f async for f in records.read(HelpFeedback, since, until)]
    suggestions = [s async for s in records.read(AgentSuggestion, since, until)]
    return await asyncio.to_thread(
        learn,
        entries=faq.entries if faq is not None else [],
        choices=choices,
        rejections=rejections,
        conversations=conversations,
        unanswered=unanswered,
        agent_answers=agent_answers,
        help_searches=help_searches,
        help_feedback=help_feedback,
        agent_suggestions=suggestions,
        period=period,
        units_of=_units_of(faq) if faq is not None else plain_units,
        settings=settings,
    )

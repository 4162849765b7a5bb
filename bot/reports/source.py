"""Reading a period's records from the store and turning them into a `Report`."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.faq import FaqLibrary
from bot.records import ConversationRecord, RecordStore, SurveyResponse, UnansweredMessage
from bot.reports.compute import compute_report
from bot.reports.model import Period, Report
from bot.reports.similar import Units


async def read_period(
    records: RecordStore, period: Period
) -> tuple[list[ConversationRecord], list[SurveyResponse], list[UnansweredMessage]]:
    """The ended conversations, survey answers and unanswered messages of a period."""
    since, until = period.since.timestamp(), period.until.timestamp()
    convs = [c async for c in records.read(ConversationRecord, since, until)]
    answers = [r async for r in records.read(SurveyResponse, since, until)]
    misses = [m async for m in records.read(UnansweredMessage, since, until)]
    return convs, answers, misses


async def report_from_store(
    records: RecordStore, faq: FaqLibrary | None, period: Period, *, now: datetime | None = None
) -> Report:
    """The report of a period; FAQ ids are shown with their questions when `faq` is given."""
    convs, answers, misses = await read_period(records, period)
    questions = {e.id: e.question for e in faq.entries} if faq is not None else {}
    analyzer = faq.index.analyzer if faq is not None else None

    def units_of(text: str) -> Units:
        assert analyzer is not None
        return [unit for unit, _weight in analyzer.word_units(text)]

    # Grouping messages by similarity is CPU work: keep the event loop free meanwhile.
    return await asyncio.to_thread(
        compute_report,
        convs,
        answers,
        misses,
        period,
        faq_questions=questions,
        units_of=units_of if analyzer is not None else None,
        now=now,
    )

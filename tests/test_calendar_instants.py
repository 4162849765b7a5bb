"""Everything that depends on the date or the time of day, run at instants that break it.

Each behaviour runs on a runtime whose clock stands at one of these instants: just after
and just before midnight in Asia/Tokyo and in UTC (a different date in the other zone),
the last evening of a month, 29 February, and a Japanese public holiday. The clock moves
only when a test moves it, so the outcome is the same at any hour the suite runs.
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from bot.clock import FixedClock, now_in
from bot.composition.runtime import Runtime
from bot.conversation import ConversationState
from bot.records import ConversationRecord, RecordStore, SurveyResponse
from bot.reports import period_between, period_for_days
from bot.reports.model import Period
from bot.reports.seed import seed_demo
from bot.reports.source import report_from_store
from bot.settings import Settings
from bot.storage import Keys
from bot.timers import TimerSweeper
from channels.registry import channel_catalog
from tests.direct_customer import DirectCustomer

DEMO_CHANNELS = channel_catalog().names

TOKYO = ZoneInfo("Asia/Tokyo")
# The shop's hours in the tests below: weekdays 09:00-18:00 Tokyo time, closed on the
# holidays listed (Coming of Age Day 2027, and Golden Week 2027).
HOURS = {
    "mon": "09:00-18:00",
    "tue": "09:00-18:00",
    "wed": "09:00-18:00",
    "thu": "09:00-18:00",
    "fri": "09:00-18:00",
    "sat": None,
    "sun": None,
}
HOLIDAYS = ["2027-01-11", "2027-05-03", "2027-05-04", "2027-05-05"]


@dataclass(frozen=True)
class Instant:
    """A moment to run at, the zone its calendar is read in, and what the shop's hours say
    then: `None` when agents are working, else the next opening as the customer reads it."""

    at: datetime
    next_opening: str | None

    @property
    def zone(self) -> ZoneInfo:
        assert isinstance(self.at.tzinfo, ZoneInfo)
        return self.at.tzinfo


INSTANTS = {
    # Wednesday 10 March 2027.
    "tokyo-just-after-midnight": Instant(
        datetime(2027, 3, 10, 0, 0, 30, tzinfo=TOKYO), "3月10日（水）09:00"
    ),
    "tokyo-just-before-midnight": Instant(
        datetime(2027, 3, 10, 23, 59, 30, tzinfo=TOKYO), "3月11日（木）09:00"
    ),
    # 09:00:30 on Wednesday in Tokyo: open.
    "utc-just-after-midnight": Instant(
        datetime(2027, 3, 10, 0, 0, 30, tzinfo=ZoneInfo("UTC")), None
    ),
    # Already 08:59:30 on Thursday in Tokyo.
    "utc-just-before-midnight": Instant(
        datetime(2027, 3, 10, 23, 59, 30, tzinfo=ZoneInfo("UTC")), "3月11日（木）09:00"
    ),
    # Friday 30 April; the weekend and Golden Week follow.
    "last-evening-of-a-month": Instant(
        datetime(2027, 4, 30, 23, 59, 30, tzinfo=TOKYO), "5月6日（木）09:00"
    ),
    "29-february": Instant(datetime(2028, 2, 29, 23, 59, 30, tzinfo=TOKYO), "3月1日（水）09:00"),
    # Monday 11 January 2027, Coming of Age Day: within the hours, but a holiday.
    "japanese-holiday": Instant(
        datetime(2027, 1, 11, 10, 0, 0, tzinfo=TOKYO), "1月12日（火）09:00"
    ),
}


@pytest.fixture(params=list(INSTANTS), ids=list(INSTANTS))
def instant(request: pytest.FixtureRequest) -> Instant:
    return INSTANTS[request.param]


@pytest.fixture
def clock(instant: Instant) -> FixedClock:
    return FixedClock(instant.at)


@pytest.fixture
async def rt(make_settings: Callable[..., Settings], clock: FixedClock) -> AsyncIterator[Runtime]:
    """A runtime at the instant, with the shop's hours; no background worker: the test
    drains the inbox when it wants events handled."""
    runtime = Runtime(
        make_settings(business_hours=HOURS, holidays=HOLIDAYS, business_timezone="Asia/Tokyo"),
        clock=clock,
    )
    yield runtime
    await runtime.redis.aclose()


async def test_the_demo_seed_fills_exactly_the_reports_last_30_days(
    redis_client: aioredis.Redis, key_prefix: str, instant: Instant, clock: FixedClock
) -> None:
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=400, clock=clock)
    count = await seed_demo(records, channels=DEMO_CHANNELS, days=30, seed=0, tz=instant.zone)
    period = period_for_days(30, now=now_in(clock, instant.zone), tz=instant.zone)
    report = await report_from_store(records, None, period)

    first_day = instant.at.date() - timedelta(days=29)
    assert period.since == datetime.combine(first_day, datetime.min.time(), instant.zone)
    assert period.until == instant.at
    assert report.generated_at == instant.at
    assert count > 300
    assert report.overall.conversations == count, "every seeded conversation is in the report"
    conversations = [c async for c in records.read(ConversationRecord)]
    assert len(conversations) == count
    assert min(c.started_at for c in conversations) >= period.since.timestamp()
    assert max(c.ended_at for c in conversations) < instant.at.timestamp()


async def test_the_shops_hours_and_holidays_decide_what_the_customer_hears(
    rt: Runtime, instant: Instant
) -> None:
    customer = DirectCustomer(rt)
    [notice] = await customer.send("人と話したい")
    assert await customer.state() is ConversationState.QUEUED
    if instant.next_opening is None:
        assert "営業時間外" not in notice.text
        assert "1番目" in notice.text, notice.text
    else:
        assert "営業時間外" in notice.text
        assert instant.next_opening in notice.text, notice.text


async def test_a_conversation_is_counted_in_this_month_and_today(
    rt: Runtime, instant: Instant, clock: FixedClock
) -> None:
    customer = DirectCustomer(rt)
    await customer.send("送料はいくらですか？")
    [survey] = await customer.tap("helpful:yes")
    assert survey.kind == "survey"
    await customer.send("6")
    assert await customer.state() is ConversationState.CLOSED

    today = instant.at.date()
    this_month = period_between(today.replace(day=1), today, tz=instant.zone)
    previous_last = today.replace(day=1) - timedelta(days=1)
    last_month = period_between(previous_last.replace(day=1), previous_last, tz=instant.zone)
    tomorrow = period_between(today + timedelta(days=1), today + timedelta(days=1), tz=instant.zone)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    assert this_month.until.date() == today + timedelta(days=1)
    assert (this_month.until - this_month.since) <= timedelta(days=days_in_month, hours=1)

    async def figures(period: Period) -> tuple[int, int]:
        report = await report_from_store(rt.records, None, period)
        return report.overall.conversations, report.overall.ces.responses

    clock.advance(10)  # a report asked for a moment later (a period ends before its `until`)
    today_so_far = period_for_days(1, now=now_in(clock, instant.zone), tz=instant.zone)
    assert await figures(this_month) == (1, 1)
    assert await figures(today_so_far) == (1, 1)
    assert await figures(last_month) == (0, 0)
    assert await figures(tomorrow) == (0, 0)
    [record] = [r async for r in rt.records.read(ConversationRecord)]
    assert record.ended_at == instant.at.timestamp()
    [answer] = [r async for r in rt.records.read(SurveyResponse)]
    assert answer.time == instant.at.timestamp()


async def test_the_idle_timer_fires_on_the_clock_not_before(rt: Runtime, clock: FixedClock) -> None:
    customer = DirectCustomer(rt)
    await customer.send("送料はいくらですか？")
    idle = rt.settings.idle_close_minutes * 60
    sweeper = TimerSweeper(rt.timers, rt.inbox, clock=clock)

    clock.advance(idle - 1)
    assert await sweeper.sweep() == 0, "not due yet"
    clock.advance(2)
    assert await sweeper.sweep() == 1
    await rt.drain_inbox()
    [survey] = await customer.replies()
    assert survey.kind == "survey", "an answered customer who went quiet is asked the survey"
    assert await customer.state() is ConversationState.SURVEY


async def test_the_survey_is_not_asked_again_within_the_cooldown(
    rt: Runtime, clock: FixedClock
) -> None:
    customer = DirectCustomer(rt)
    cooldown = rt.settings.survey_cooldown_hours * 3600

    async def solved_conversation() -> list[str]:
        await customer.send("送料はいくらですか？")
        replies = await customer.tap("helpful:yes")
        if replies[-1].kind == "survey":
            await customer.send("7")
        assert await customer.state() is ConversationState.CLOSED
        return [r.kind for r in replies]

    assert "survey" in await solved_conversation()
    clock.advance(cooldown - 60)
    assert "survey" not in await solved_conversation(), "asked within the cooldown"
    clock.advance(120)
    assert "survey" in await solved_conversation(), "asked again after the cooldown"


async def test_records_older_than_the_retention_are_trimmed_by_the_clock(
    redis_client: aioredis.Redis, key_prefix: str, instant: Instant, clock: FixedClock
) -> None:
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=30, clock=clock)
    now = clock.now()
    # Trimming is approximate (whole stream nodes of 100 entries), so file many.
    for n in range(300):
        await records.add(_record(n, now - 31 * 86_400), at=now - 31 * 86_400 + n)
    for n in range(5):
        await records.add(_record(1000 + n, now - 29 * 86_400), at=now - 29 * 86_400 + n)
    await records.add(_record(2000, now))

    kept = [r async for r in records.read(ConversationRecord)]
    old = [r for r in kept if r.ended_at < now - 30 * 86_400]
    assert len(old) <= 100, f"{len(old)} records past the retention are still there"
    assert len(kept) - len(old) == 6, "everything within the retention is kept"
    assert kept[-1].ended_at == now


def _record(n: int, at: float) -> ConversationRecord:
    return ConversationRecord(
        conversation_id=f"c{n}",
        customer_key=f"web:u{n}",
        channel="web",
        started_at=at - 60,
        ended_at=at,
        resolution="bot",
    )


def test_the_instants_are_what_they_claim() -> None:
    """The table above is easy to get wrong by a day: check it against the calendar."""
    by_name = {name: i.at for name, i in INSTANTS.items()}
    assert by_name["29-february"].date() == date(2028, 2, 29)
    last = by_name["last-evening-of-a-month"]
    assert (last + timedelta(minutes=1)).month != last.month
    assert by_name["utc-just-before-midnight"].astimezone(TOKYO).date() == date(2027, 3, 11)
    assert by_name["tokyo-just-after-midnight"].astimezone(UTC).date() == date(2027, 3, 9)
    assert by_name["japanese-holiday"].weekday() == 0  # Coming of Age Day: a Monday

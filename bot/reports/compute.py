"""The report's figures, computed by pure functions over lists of records."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.actor import legacy_id
from bot.records import (
    AgentSuggestion,
    ConversationRecord,
    HelpFeedback,
    HelpSearch,
    SurveyResponse,
    UnansweredMessage,
    current_feedback,
)
from bot.reports.model import (
    CES_EASY_FROM,
    CES_HIGH,
    CES_LOW,
    AgentSuggestionStats,
    CesStats,
    CsatStats,
    DayPoint,
    Durations,
    FaqToRewrite,
    HelpCenterStats,
    HelpComment,
    HelpEntryStats,
    LowComment,
    NpsStats,
    Period,
    Report,
    Segment,
    SuggestedEntry,
    SuggestingAgent,
)
from bot.reports.similar import Miss, UnitsOf, group_unanswered, plain_units

MIN_RESPONSES_TO_REWRITE = 3  # fewer answers say too little about an entry
REWRITE_BELOW = float(CES_EASY_FROM)  # entries whose mean CES is not "easy" on average
REWRITE_LIMIT = 5
LOW_SCORE_MAX = 3  # comments given with scores 1-3 explain what was hard
HANDED_OFF, BOT_ONLY = "handed_off", "bot"
PATH_LABELS = {BOT_ONLY: "Bot only", HANDED_OFF: "Handed off to a person"}


def open_ended(until: date | None) -> date | None:
    """`until` as a bound, or None for the last day there is (9999-12-31): the search ends
    at the next midnight, which no date can name."""
    return None if until is None or until >= date.max else until


def local_timezone() -> tzinfo:
    """The timezone of this process (the `TZ` environment variable, else the system's)."""
    return datetime.now().astimezone().tzinfo or UTC


def period_for_days(days: int, *, now: datetime | None = None, tz: tzinfo | None = None) -> Period:
    """The last `days` calendar days, today included, up to now."""
    tz = tz or local_timezone()
    now = (now or datetime.now(tz)).astimezone(tz)
    first = now.date() - timedelta(days=max(days, 1) - 1)
    return Period(since=_midnight(first, tz), until=now, timezone=_tz_name(tz))


def period_between(first: date, last: date, *, tz: tzinfo | None = None) -> Period:
    """The calendar days from `first` to `last`, both included."""
    tz = tz or local_timezone()
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    return Period(
        since=_midnight(first, tz),
        until=_midnight(last + timedelta(days=1), tz),
        timezone=_tz_name(tz),
    )


def compute_report(
    conversations: Iterable[ConversationRecord],
    responses: Iterable[SurveyResponse],
    unanswered: Iterable[UnansweredMessage],
    period: Period,
    *,
    faq_questions: Mapping[str, str] | None = None,
    units_of: UnitsOf | None = None,
    now: datetime | None = None,
    help_views: Mapping[str, int] | None = None,
    help_searches: Iterable[HelpSearch] = (),
    help_feedback: Iterable[HelpFeedback] = (),
    agent_suggestions: Iterable[AgentSuggestion] = (),
    channel_labels: Mapping[str, str] | None = None,
) -> Report:
    """Every figure of the report for `period`, from the records (others are ignored).

    `faq_questions` maps FAQ ids to their question text; `units_of` (the FAQ analyzer's
    words and synonyms) lets unanswered messages group by meaning, not only by spelling.
    `help_views` (views per entry in the period) turns the help-center section on; its
    searches with no result join the unanswered messages. `channel_labels` names the
    channels (from the channel registry); a channel without one is shown by its name.
    """
    labels = dict(channel_labels or {})
    questions = dict(faq_questions or {})
    lo, hi = period.since.timestamp(), period.until.timestamp()
    convs = [c for c in conversations if lo <= c.ended_at < hi]
    answers = [r for r in responses if lo <= r.time < hi]
    searches = [s for s in help_searches if lo <= s.time < hi]
    misses: list[Miss] = [m for m in unanswered if lo <= m.time < hi]
    misses += [s for s in searches if s.outcome == "none"]
    misses.sort(key=lambda m: m.time)
    ces = [r for r in answers if r.question == "ces"]
    handed_off_ids = {c.conversation_id for c in convs if c.handed_off}
    known_ids = {c.conversation_id for c in convs}

    def path(r: SurveyResponse) -> str:
        # The conversation record knows best; a lone answer knows who resolved it.
        if r.conversation_id in known_ids:
            return HANDED_OFF if r.conversation_id in handed_off_ids else BOT_ONLY
        return BOT_ONLY if r.resolved_by == "bot" else HANDED_OFF

    def faq_label(faq_id: str) -> str:
        return questions.get(faq_id, f"{faq_id} (no longer in the FAQ)")

    tz = period.since.tzinfo or UTC
    by_faq = _segments(
        convs,
        ces,
        conv_keys=lambda c: c.faq_answered,
        resp_keys=lambda r: r.faq_ids,
        label=faq_label,
    )
    return Report(
        generated_at=(now or datetime.now(tz)).astimezone(tz),
        period=period,
        overall=_segment("all", "All conversations", convs, ces),
        csat=_csat([r for r in answers if r.question == "csat"]),
        nps=_nps([r for r in answers if r.question == "nps"]),
        by_channel=_segments(
            convs,
            ces,
            conv_keys=lambda c: [c.channel],
            resp_keys=lambda r: [r.channel],
            label=lambda k: labels.get(k, k),
        ),
        by_path=_segments(
            convs,
            ces,
            conv_keys=lambda c: [HANDED_OFF if c.handed_off else BOT_ONLY],
            resp_keys=lambda r: [path(r)],
            label=PATH_LABELS.__getitem__,
            order=list(PATH_LABELS),
        ),
        by_agent=_segments(
            convs,
            ces,
            conv_keys=lambda c: _listed(conversation_agent(c)),
            resp_keys=lambda r: _listed(response_agent(r)),
            label=agent_labels(convs, ces).__getitem__,
        ),
        by_faq=by_faq,
        trend=_trend(convs, ces, period, tz),
        faq_to_rewrite=_faq_to_rewrite(by_faq, ces, tz),
        unanswered_total=len(misses),
        unanswered=group_unanswered(misses, questions, units_of=units_of or plain_units, tz=tz),
        help_center=None
        if help_views is None
        else help_center_stats(
            help_views,
            searches,
            [f for f in help_feedback if lo <= f.time < hi],
            by_faq,
            faq_label,
            tz,
        ),
        agent_suggestions=suggestion_stats(
            [s for s in agent_suggestions if lo <= s.time < hi], faq_label
        ),
    )


def suggestion_stats(
    outcomes: Sequence[AgentSuggestion], label: Callable[[str], str]
) -> AgentSuggestionStats | None:
    """How often agents replied with a suggested FAQ answer, and with which entries."""
    if not outcomes:
        return None
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for s in outcomes:
        counts[s.faq_id][s.outcome] += 1
    total = Counter(s.outcome for s in outcomes)
    entries = [
        SuggestedEntry(
            faq_id=faq_id,
            question=label(faq_id),
            used=c["used"],
            edited=c["edited"],
            ignored=c["ignored"],
        )
        for faq_id, c in counts.items()
    ]
    entries.sort(key=lambda e: (-(e.used + e.edited), -e.ignored, e.faq_id))
    return AgentSuggestionStats(
        agents=suggesting_agents(outcomes),
        replies=len(outcomes),
        used=total["used"],
        edited=total["edited"],
        ignored=total["ignored"],
        from_faq_share=_share(total["used"] + total["edited"], len(outcomes)),
        entries=entries[:10],
    )


def suggestion_agent(record: AgentSuggestion) -> str:
    """The id of the agent who replied (a name-only record: its legacy id)."""
    return record.agent_id or legacy_id(record.agent)


def suggesting_agents(outcomes: Sequence[AgentSuggestion]) -> list[SuggestingAgent]:
    """Each agent's use of the suggestions, by id; shown under the latest name they used.

    Two agents with the same name stay two rows, told apart by their ids (as in reports
    by agent).
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    latest: dict[str, tuple[float, str]] = {}
    for s in outcomes:
        agent_id = suggestion_agent(s)
        counts[agent_id][s.outcome] += 1
        if agent_id not in latest or s.time >= latest[agent_id][0]:
            latest[agent_id] = (s.time, s.agent)
    shared = Counter(name for _, name in latest.values())
    rows = []
    for agent_id, c in counts.items():
        name = latest[agent_id][1]
        replies = c.total()
        rows.append(
            SuggestingAgent(
                agent_id=agent_id,
                name=f"{name} ({agent_id})" if shared[name] > 1 else name,
                replies=replies,
                used=c["used"],
                edited=c["edited"],
                ignored=c["ignored"],
                from_faq_share=_share(c["used"] + c["edited"], replies),
            )
        )
    return sorted(rows, key=lambda a: (-(a.used + a.edited), -a.replies, a.agent_id))


def help_center_stats(
    views: Mapping[str, int],
    searches: Sequence[HelpSearch],
    feedback: Iterable[HelpFeedback],
    by_faq: Sequence[Segment],
    label: Callable[[str], str],
    tz: tzinfo,
) -> HelpCenterStats:
    """Views, searches and helpfulness per entry, each entry next to its CES.

    A reader's comment after a "no" arrives as a later record with the same feedback id:
    only the newest record of an id counts, so the answer is counted once, with its comment.
    """
    answers = current_feedback(feedback)
    per_entry: dict[str, list[HelpFeedback]] = defaultdict(list)
    for f in answers:
        per_entry[f.faq_id].append(f)
    ces = {s.key: s.ces for s in by_faq}
    rows = []
    for faq_id in set(views) | set(per_entry):
        said = per_entry.get(faq_id, [])
        yes = sum(1 for f in said if f.helpful)
        no = len(said) - yes
        comments = sorted((f for f in said if not f.helpful and f.comment), key=lambda f: -f.time)
        entry_ces = ces.get(faq_id)
        rows.append(
            HelpEntryStats(
                faq_id=faq_id,
                question=label(faq_id),
                views=views.get(faq_id, 0),
                helpful=yes,
                not_helpful=no,
                helpful_share=_share(yes, yes + no),
                ces_mean=entry_ces.mean if entry_ces else None,
                ces_responses=entry_ces.responses if entry_ces else 0,
                comments=[
                    HelpComment(comment=f.comment or "", time=datetime.fromtimestamp(f.time, tz))
                    for f in comments[:3]
                ],
            )
        )
    rows.sort(key=lambda r: (-r.views, -(r.helpful + r.not_helpful), r.faq_id))
    helpful = sum(1 for f in answers if f.helpful)
    return HelpCenterStats(
        views=sum(views.values()),
        searches=len(searches),
        searches_without_result=sum(1 for s in searches if s.outcome == "none"),
        searches_unsure=sum(1 for s in searches if s.outcome == "suggest"),
        feedback=len(answers),
        helpful_share=_share(helpful, len(answers)),
        entries=rows,
    )


def conversation_agent(record: ConversationRecord) -> str | None:
    """The id of the agent who handled the conversation (a name-only record: its legacy id)."""
    if record.agent_id:
        return record.agent_id
    return legacy_id(record.agent) if record.agent else None


def response_agent(response: SurveyResponse) -> str | None:
    """The id of the agent a survey answer rates, None when the bot resolved it."""
    if response.agent_id:
        return response.agent_id
    return None if response.resolved_by == "bot" else legacy_id(response.resolved_by)


def agent_labels(
    convs: Sequence[ConversationRecord], responses: Sequence[SurveyResponse]
) -> dict[str, str]:
    """What to call each agent id: the latest name it went by.

    Agents are ids; two agents with the same name stay two rows, told apart by their ids.
    """
    latest: dict[str, tuple[float, str]] = {}
    named = [(conversation_agent(c), c.agent, c.ended_at) for c in convs] + [
        (response_agent(r), r.resolved_by, r.time) for r in responses
    ]
    for agent_id, name, at in named:
        if agent_id and name and (agent_id not in latest or at >= latest[agent_id][0]):
            latest[agent_id] = (at, name)
    names = {agent_id: name for agent_id, (_, name) in latest.items()}
    shared = Counter(names.values())
    return {
        agent_id: f"{name} ({agent_id})" if shared[name] > 1 else name
        for agent_id, name in names.items()
    }


def _listed(value: str | None) -> list[str]:
    return [value] if value else []


def ces_stats(scores: Sequence[int]) -> CesStats:
    """Mean, share of 'easy' (5-7) and distribution of CES scores."""
    valid = [s for s in scores if CES_LOW <= s <= CES_HIGH]
    counts = Counter(valid)
    return CesStats(
        responses=len(valid),
        mean=_mean(valid),
        easy_share=_share(sum(1 for s in valid if s >= CES_EASY_FROM), len(valid)),
        distribution={s: counts.get(s, 0) for s in range(CES_LOW, CES_HIGH + 1)},
    )


def durations(values: Iterable[float | None]) -> Durations:
    """Median and 90th percentile (linear interpolation) of the known values."""
    known = sorted(v for v in values if v is not None)
    return Durations(
        count=len(known),
        median=_round(percentile(known, 0.5), 1),
        p90=_round(percentile(known, 0.9), 1),
    )


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0-1) of sorted values, interpolating between the closest ranks."""
    if not sorted_values:
        return None
    rank = q * (len(sorted_values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def _segment(
    key: str,
    label: str,
    convs: Sequence[ConversationRecord],
    ces: Sequence[SurveyResponse],
) -> Segment:
    total = len(convs)
    asked = [c for c in convs if c.survey != "not_asked"]
    answered = sum(1 for c in asked if c.survey == "answered")
    by_bot = sum(1 for c in convs if c.resolution == "bot")
    handed = [c for c in convs if c.handed_off]
    return Segment(
        key=key,
        label=label,
        conversations=total,
        customers=len({c.customer_key for c in convs}),
        resolved_by_bot=by_bot,
        handed_off=len(handed),
        abandoned=sum(1 for c in convs if c.resolution == "abandoned"),
        surveys_asked=len(asked),
        surveys_answered=answered,
        response_rate=_share(answered, len(asked)),
        deflection_rate=_share(by_bot, total),
        handoff_rate=_share(len(handed), total),
        ces=ces_stats([r.score for r in ces]),
        wait=durations(c.wait_seconds for c in handed),
        first_response=durations(c.first_response_seconds for c in handed),
        handle=durations(c.handle_seconds for c in handed),
    )


def _segments(
    convs: Sequence[ConversationRecord],
    ces: Sequence[SurveyResponse],
    *,
    conv_keys: Callable[[ConversationRecord], Iterable[str]],
    resp_keys: Callable[[SurveyResponse], Iterable[str]],
    label: Callable[[str], str],
    order: Sequence[str] = (),
) -> list[Segment]:
    """One segment per key; a record counts in every segment it has a key of."""
    conv_groups: dict[str, list[ConversationRecord]] = defaultdict(list)
    resp_groups: dict[str, list[SurveyResponse]] = defaultdict(list)
    for c in convs:
        for k in dict.fromkeys(conv_keys(c)):
            conv_groups[k].append(c)
    for r in ces:
        for k in dict.fromkeys(resp_keys(r)):
            resp_groups[k].append(r)
    keys = set(conv_groups) | set(resp_groups)
    segments = [_segment(k, label(k), conv_groups[k], resp_groups[k]) for k in keys]
    if order:
        rank = {k: i for i, k in enumerate(order)}
        return sorted(segments, key=lambda s: (rank.get(s.key, len(rank)), s.key))
    # Busiest first: what most customers went through comes first.
    return sorted(segments, key=lambda s: (-s.conversations, -s.ces.responses, s.key))


def _trend(
    convs: Sequence[ConversationRecord],
    ces: Sequence[SurveyResponse],
    period: Period,
    tz: tzinfo,
) -> list[DayPoint]:
    conv_days = Counter(_day(c.ended_at, tz) for c in convs)
    scores: dict[date, list[int]] = defaultdict(list)
    for r in ces:
        scores[_day(r.time, tz)].append(r.score)
    first = period.since.astimezone(tz).date()
    last = (period.until - timedelta(microseconds=1)).astimezone(tz).date()
    points = []
    day = first
    while day <= last:
        stats = ces_stats(scores.get(day, []))
        points.append(
            DayPoint(
                day=day,
                conversations=conv_days.get(day, 0),
                responses=stats.responses,
                mean=stats.mean,
                easy_share=stats.easy_share,
            )
        )
        day += timedelta(days=1)
    return points


def _faq_to_rewrite(
    by_faq: Sequence[Segment], ces: Sequence[SurveyResponse], tz: tzinfo
) -> list[FaqToRewrite]:
    worst = sorted(
        (
            s
            for s in by_faq
            if s.ces.responses >= MIN_RESPONSES_TO_REWRITE
            and s.ces.mean is not None
            and s.ces.mean < REWRITE_BELOW
        ),
        key=lambda s: (s.ces.mean, s.ces.easy_share, -s.ces.responses),
    )[:REWRITE_LIMIT]
    out = []
    for s in worst:
        low: dict[str, SurveyResponse] = {}  # newest first, each wording once
        for r in reversed(ces):
            text = (r.comment or "").strip()
            if s.key in r.faq_ids and r.score <= LOW_SCORE_MAX and text and text not in low:
                low[text] = r
        out.append(
            FaqToRewrite(
                faq_id=s.key,
                question=s.label,
                responses=s.ces.responses,
                mean=s.ces.mean or 0.0,
                easy_share=s.ces.easy_share or 0.0,
                comments=[
                    LowComment(score=r.score, comment=text, time=datetime.fromtimestamp(r.time, tz))
                    for text, r in list(low.items())[:3]
                ],
            )
        )
    return out


def _csat(answers: Sequence[SurveyResponse]) -> CsatStats | None:
    if not answers:
        return None
    scores = [r.score for r in answers]
    return CsatStats(
        responses=len(scores),
        mean=_mean(scores),
        satisfied_share=_share(sum(1 for s in scores if s >= 4), len(scores)),
    )


def _nps(answers: Sequence[SurveyResponse]) -> NpsStats | None:
    if not answers:
        return None
    n = len(answers)
    promoters = sum(1 for r in answers if r.score >= 9)
    detractors = sum(1 for r in answers if r.score <= 6)
    return NpsStats(
        responses=n,
        promoters_share=_share(promoters, n),
        detractors_share=_share(detractors, n),
        nps=round(100 * (promoters - detractors) / n, 1),
    )


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _day(ts: float, tz: tzinfo) -> date:
    return datetime.fromtimestamp(ts, tz).date()


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _tz_name(tz: tzinfo) -> str:
    key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo
    return str(key) if key else (tz.tzname(None) or str(tz))

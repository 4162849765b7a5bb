"""The report a support lead reads: typed figures for one period, as pydantic models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from bot.panels import Panel

CES_LOW, CES_HIGH = 1, 7
CES_EASY_FROM = 5  # 5, 6 and 7 count as "easy"


class Period(BaseModel):
    """The time span a report covers: `since` inclusive, `until` exclusive."""

    since: datetime
    until: datetime
    timezone: str = Field(description="Timezone of the days in the trend and of the dates shown.")


class CesStats(BaseModel):
    """Customer Effort Score answers (1 = very hard, 7 = very easy)."""

    responses: int
    mean: float | None = Field(description="Average score; None without responses.")
    easy_share: float | None = Field(description="Share of scores 5-7 (0-1).")
    distribution: dict[int, int] = Field(description="How many answered each score 1-7.")


class CsatStats(BaseModel):
    """Customer satisfaction answers (1-5)."""

    responses: int
    mean: float | None
    satisfied_share: float | None = Field(description="Share of scores 4-5 (0-1).")


class NpsStats(BaseModel):
    """Net Promoter Score answers (0-10)."""

    responses: int
    promoters_share: float | None = Field(description="Share of scores 9-10 (0-1).")
    detractors_share: float | None = Field(description="Share of scores 0-6 (0-1).")
    nps: float | None = Field(description="Promoters % minus detractors %, -100 to 100.")


class Durations(BaseModel):
    """Median and 90th percentile of a duration, in seconds, over `count` conversations."""

    count: int
    median: float | None
    p90: float | None


class Segment(BaseModel):
    """Every figure for one slice of the conversations (a channel, an agent, an FAQ entry...)."""

    key: str = Field(description="Channel name, 'bot'/'handed_off', agent id or FAQ id.")
    label: str = Field(description="What to show: e.g. the FAQ entry's question.")
    conversations: int = Field(description="Conversations that ended in the period.")
    customers: int = Field(
        default=0, description="Unique customers among them: a linked customer counts once."
    )
    resolved_by_bot: int
    handed_off: int
    abandoned: int = Field(description="Handed off, but nobody took it or the customer left.")
    surveys_asked: int
    surveys_answered: int
    response_rate: float | None = Field(description="surveys_answered / surveys_asked.")
    deflection_rate: float | None = Field(description="resolved_by_bot / conversations.")
    handoff_rate: float | None = Field(description="handed_off / conversations.")
    ces: CesStats
    wait: Durations = Field(description="Queued until an agent claimed the conversation.")
    first_response: Durations = Field(description="Queued until the agent's first reply.")
    handle: Durations = Field(description="Claimed until closed.")


class DayPoint(BaseModel):
    """One day of the trend."""

    day: date
    conversations: int
    responses: int
    mean: float | None
    easy_share: float | None


class LowComment(BaseModel):
    """What a customer wrote next to a low score."""

    score: int
    comment: str
    time: datetime


class FaqToRewrite(BaseModel):
    """An FAQ entry whose answer customers found hard: a candidate for rewriting."""

    faq_id: str
    question: str
    responses: int
    mean: float
    easy_share: float
    comments: list[LowComment] = Field(description="Newest comments given with scores 1-3.")


class UnansweredGroup(BaseModel):
    """Similar messages the bot could not answer: a candidate for a new FAQ entry."""

    text: str = Field(description="The most frequent wording in the group.")
    count: int
    last_seen: datetime
    variants: list[str] = Field(description="Other wordings in the group, most frequent first.")
    channels: dict[str, int]
    best_faq_id: str | None = Field(description="The closest existing entry, if any.")
    best_faq_question: str | None
    best_score: float | None = Field(description="The matcher's mean score for that entry (0-1).")


class FaqProposals(BaseModel):
    """What `tsunagu faq learn` would propose for the period: items waiting for the admin."""

    waiting: int = Field(description="alternatives + rejected + drafts.")
    alternatives: int = Field(description="Customers' phrasings to add to existing entries.")
    rejected: int = Field(description="Entries customers often said did not solve it.")
    drafts: int = Field(description="New entries drafted from unanswered questions.")
    command: str = Field(description="The command that writes the proposal for the period.")


class HelpComment(BaseModel):
    """What a reader wrote after saying an article did not help."""

    comment: str
    time: datetime


class HelpEntryStats(BaseModel):
    """One help-center entry: how often it was read, whether it helped, and its CES."""

    faq_id: str
    question: str
    views: int = Field(description="Times the entry's page was opened (crawlers excluded).")
    helpful: int = Field(description='Readers who answered "yes, this solved it".')
    not_helpful: int
    helpful_share: float | None = Field(description="helpful / (helpful + not_helpful).")
    ces_mean: float | None = Field(description="Mean CES of conversations answered with it.")
    ces_responses: int
    comments: list[HelpComment] = Field(description="Newest comments given with a no.")


class HelpCenterStats(BaseModel):
    """The help center in the period: reading, searching, and whether articles helped."""

    views: int
    searches: int
    searches_without_result: int = Field(
        description="Searches the matcher found nothing for; they join `unanswered`."
    )
    searches_unsure: int = Field(description='Searches answered with "did you mean".')
    feedback: int = Field(description="Readers who answered 'did this article solve it?'.")
    helpful_share: float | None
    entries: list[HelpEntryStats] = Field(description="Most viewed first.")


class SuggestedEntry(BaseModel):
    """One FAQ entry as agents met it among the suggestions."""

    faq_id: str
    question: str
    used: int = Field(description="Replies that sent its answer as suggested.")
    edited: int = Field(description="Replies that sent its answer after changing it.")
    ignored: int = Field(description="Times it was the top suggestion and agents wrote their own.")


class SuggestingAgent(BaseModel):
    """One agent's replies while suggestions were shown."""

    agent_id: str = Field(description="The agent's stable id (records by name only: legacy).")
    name: str = Field(description="The latest name they went by (with the id when shared).")
    replies: int
    used: int
    edited: int
    ignored: int
    from_faq_share: float | None = Field(description="(used + edited) / replies.")


class AgentSuggestionStats(BaseModel):
    """How agents answer with the FAQ answers suggested beside the reply box."""

    replies: int = Field(description="Agent replies sent while suggestions were shown.")
    used: int
    edited: int
    ignored: int
    from_faq_share: float | None = Field(description="(used + edited) / replies.")
    entries: list[SuggestedEntry] = Field(description="Most used (as is or edited) first.")
    agents: list[SuggestingAgent] = Field(
        default_factory=list, description="Per agent id, most replies from the FAQ first."
    )


class Report(BaseModel):
    """Everything `tsunagu report` prints and /admin shows, for one period."""

    generated_at: datetime
    period: Period
    overall: Segment
    csat: CsatStats | None = Field(description="Only when CSAT answers exist.")
    nps: NpsStats | None = Field(description="Only when NPS answers exist.")
    by_channel: list[Segment]
    by_path: list[Segment] = Field(description="'bot' (bot only) and 'handed_off'.")
    by_agent: list[Segment]
    by_faq: list[Segment] = Field(description="Conversations whose answers included the entry.")
    trend: list[DayPoint] = Field(description="CES per day, every day of the period.")
    faq_to_rewrite: list[FaqToRewrite] = Field(description="Worst CES first.")
    unanswered_total: int = Field(
        description="Messages the bot could not answer and help-center searches with no result."
    )
    unanswered: list[UnansweredGroup] = Field(description="Most frequent first.")
    faq_proposals: FaqProposals | None = Field(
        default=None, description="Only when the FAQ is loaded (see `tsunagu faq learn`)."
    )
    help_center: HelpCenterStats | None = Field(
        default=None, description="Only when the help center is on."
    )
    agent_suggestions: AgentSuggestionStats | None = Field(
        default=None, description="Only when agents replied with suggestions shown."
    )
    panels: list[Panel] = Field(
        default_factory=list,
        description="Figures the configured channels add as of now (e.g. LINE's message cost).",
    )

"""The admin's choices that shape a conversation."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.hours import BusinessHours
from bot.records import Question

# Payloads of the buttons the bot offers; they come back as `InboundKind.CHOICE`.
FAQ_PREFIX = "faq:"
RATING_PREFIX = "rating:"
HANDOFF = "handoff"
NONE_OF_THESE = "none"
HELPFUL_YES = "helpful:yes"
HELPFUL_NO = "helpful:no"
SKIP_COMMENT = "survey:skip"
# Menu taps (a LINE rich menu sends them as postbacks): leave the person and go back to the
# bot, ask how the wait is going, list the common questions.
BACK_TO_BOT = "back_to_bot"
QUEUE_STATUS = "queue_status"
FAQ_MENU = "faq_menu"


@dataclass(frozen=True)
class SurveyQuestion:
    """One survey question: its text's name in `bot/texts.py` and its scale."""

    name: Question
    low: int
    high: int


QUESTIONS = {
    "ces": SurveyQuestion("ces", 1, 7),
    "csat": SurveyQuestion("csat", 1, 5),
    "nps": SurveyQuestion("nps", 0, 10),
}


@dataclass(frozen=True)
class FlowConfig:
    """Handoff triggers, survey rules and timers."""

    failures_before_handoff: int = 2
    handoff_trigger_words: tuple[str, ...] = ()
    priority_words: tuple[str, ...] = ()  # a handoff mentioning one is served first
    vip_customers: frozenset[str] = frozenset()  # customer keys served first
    greeting_topics: int = 4
    ask_if_solved: bool = True
    survey_questions: tuple[str, ...] = ("ces",)
    survey_low_score_max: int = 3  # a CES this low asks for a comment (and alerts the team)
    survey_cooldown_seconds: float = 24 * 3600
    survey_timeout_seconds: float = 24 * 3600
    idle_close_seconds: float = 15 * 60
    queue_timeout_seconds: float = 10 * 60
    queue_max: int = 0  # customers waiting at most (0: no cap)
    escalations_per_origin_per_hour: int = 0  # handoffs one client address may ask (0: no cap)
    hours: BusinessHours = field(default_factory=BusinessHours)

    @property
    def questions(self) -> list[SurveyQuestion]:
        """The survey questions, in the order they are asked."""
        return [QUESTIONS[name] for name in self.survey_questions]

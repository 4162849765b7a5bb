"""Report records as the reports show them: customers' free text masked (`PII_MASK_REPORTS`).

The records keep what customers wrote (they are the shop's own data, erased by `tsunagu
forget`); what leaves through /admin, its downloads, `tsunagu report` and `tsunagu faq
learn` is masked as it is read.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from bot.privacy.mask import mask_personal_data
from bot.records import (
    AgentAnswered,
    AgentSuggestion,
    FaqChoice,
    FaqRejected,
    HelpFeedback,
    HelpSearch,
    SurveyResponse,
    UnansweredMessage,
)

R = TypeVar("R", bound=BaseModel)

# The fields of each kind that hold what a customer (or an agent replying) wrote.
FREE_TEXT: dict[type[BaseModel], tuple[str, ...]] = {
    UnansweredMessage: ("text",),
    SurveyResponse: ("comment",),
    FaqChoice: ("question",),
    FaqRejected: ("question",),
    AgentAnswered: ("questions", "reply"),
    HelpSearch: ("text",),
    HelpFeedback: ("comment",),
    AgentSuggestion: ("message", "reply"),
}


def _masked(value: object) -> object:
    if isinstance(value, str):
        return mask_personal_data(value)
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def masked_record(record: R) -> R:
    """`record` with personal data masked in its free-text fields (others are ids, times
    and numbers)."""
    fields = FREE_TEXT.get(type(record), ())
    if not fields:
        return record
    return record.model_copy(update={f: _masked(getattr(record, f)) for f in fields})

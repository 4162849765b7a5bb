"""Warnings about an FAQ that loads but will confuse the matcher (`tsunagu faq check`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.faq.index import FaqIndex
from bot.faq.model import FaqEntry

# An entry whose own question scores this close to another entry's is at risk: customers
# asking it get the other answer or a choice. Measured: rephrasings of one question
# score 0.7+, unrelated entries sharing a word stay under 0.5.
CLOSE_SCORE = 0.1


@dataclass(frozen=True)
class CloseQuestions:
    """Two entries that the matcher can hardly tell apart on one of their texts."""

    text: str
    entry: FaqEntry
    rival: FaqEntry
    own_score: float
    rival_score: float

    def __str__(self) -> str:
        return (
            f"'{self.entry.id}' and '{self.rival.id}' are too close on {self.text!r} "
            f"({self.own_score:.2f} vs {self.rival_score:.2f}): customers may get the wrong "
            f"one; reword a question or merge the entries"
        )


def close_questions(index: FaqIndex) -> list[CloseQuestions]:
    """Texts of an entry that another entry matches (almost) as well as its own."""
    found: list[CloseQuestions] = []
    reported: set[frozenset[str]] = set()
    for entry in index.faq.entries:
        for text in entry.texts:
            ranked = index.rank(text, limit=3)
            own = next((s.score for s in ranked if s.entry.id == entry.id), 0.0)
            for rival in ranked:
                pair = frozenset((entry.id, rival.entry.id))
                if rival.entry.id == entry.id or pair in reported:
                    continue
                if rival.score >= own - CLOSE_SCORE:
                    reported.add(pair)
                    found.append(CloseQuestions(text, entry, rival.entry, own, rival.score))
    return found

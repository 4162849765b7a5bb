"""Help-center search: the bot's own matcher, read as a results page."""

from __future__ import annotations

from dataclasses import dataclass

from bot.faq import Decision, FaqLibrary, Outcome, ScoredEntry
from bot.helpcenter.catalog import Article, article
from bot.records import HelpSearch

MAX_QUERY_CHARS = 200
# Scores are probabilities that the entry is the one meant: after a clear answer, a
# runner-up this likely is worth a look too.
ALSO_SHOWN_FROM = 0.2


@dataclass(frozen=True)
class Hit:
    """An article found by a search, with the matcher's score (0-1)."""

    article: Article
    score: float


@dataclass(frozen=True)
class SearchResult:
    """What a search found.

    `answer`: the matcher would answer with the first hit (the others follow as related);
    `suggest`: it is unsure, so the hits are "did you mean" choices; `none`: nothing fits.
    """

    query: str
    outcome: Outcome
    hits: tuple[Hit, ...]

    @property
    def unsure(self) -> bool:
        """Whether to say "did you mean" rather than present the hits as answers."""
        return self.outcome is Outcome.SUGGEST


def search(faq: FaqLibrary, query: str, language: str) -> tuple[SearchResult, HelpSearch]:
    """Search the FAQ as the bot would for a chat message, and the record of that search.

    The bot's decision says what is shown (see `worth_showing`).
    """
    decision = faq.decide(query, language)
    shown = worth_showing(decision)
    hits = tuple(Hit(article(s.entry, language), round(s.score, 3)) for s in shown)
    best = decision.best
    record = HelpSearch(
        text=query,
        language=language,
        outcome=decision.outcome.value,
        results=[h.article.id for h in hits],
        best_faq_id=best.entry.id if best else None,
        best_score=round(best.score, 3) if best else None,
    )
    return SearchResult(query, decision.outcome, hits), record


def worth_showing(decision: Decision) -> list[ScoredEntry]:
    """The candidates a person should see, best first: the bot's choices when it is unsure;
    after a clear answer, the answer and the runners-up still likely enough to be meant."""
    if decision.outcome is Outcome.NONE or not decision.candidates:
        return []
    if decision.outcome is Outcome.SUGGEST:
        return list(decision.candidates)
    first, *others = decision.candidates
    return [first, *(s for s in others if s.score >= ALSO_SHOWN_FROM)]

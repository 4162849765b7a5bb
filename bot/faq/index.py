"""The search index over a loaded FAQ (built once per load, immutable after)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from bot.faq.analyzer import Analyzer
from bot.faq.decision import ScoredEntry
from bot.faq.model import FaqEntry, FaqSet
from bot.faq.normalize import clean, question_part
from bot.faq.postings import FloatArray, TermPostings
from bot.faq.units import UnitChannel, Units

SHORTLIST = 8  # entries rescored with rapidfuzz after the vectorised pass


@dataclass(frozen=True)
class Signals:
    """Per-entry signals for one message (arrays over entries)."""

    query_cover: FloatArray  # share of the message's words the entry knows
    text_cover: FloatArray  # share of the entry's best text the message covers
    grams: FloatArray  # cosine of character bigrams (surface and reading)


class FaqIndex:
    """Scores a message against every entry of an `FaqSet`."""

    def __init__(self, faq: FaqSet, analyzer: Analyzer | None = None) -> None:
        self.faq = faq
        self.by_id: dict[str, FaqEntry] = {e.id: e for e in faq.entries}
        self.analyzer = analyzer or Analyzer(faq.synonyms)
        word_docs: list[Units] = []
        gram_docs: list[dict[str, float]] = []
        owners: list[int] = []
        self._clean: list[list[str]] = []
        for i, entry in enumerate(faq.entries):
            self._clean.append([clean(t) for t in entry.texts])
            for text in entry.texts:
                word_docs.append(self.analyzer.word_units(text))
                gram_docs.append(self.analyzer.gram_terms(text))
                owners.append(i)
            if entry.keywords:
                # Keywords join the entry's vocabulary as one more (short) text.
                word_docs.append(self.analyzer.word_units(" ".join(entry.keywords)))
                gram_docs.append({})
                owners.append(i)
        owner_arr = np.asarray(owners, dtype=np.int64)
        n = len(faq.entries)
        self.words = UnitChannel(word_docs, owner_arr, n)
        self.grams = TermPostings(gram_docs, owner_arr, n)

    def signals(self, text: str) -> Signals:
        """Compute the lexical signals of `text` against every entry at once."""
        query_cover, text_cover = self.words.scores(self.analyzer.word_units(text))
        return Signals(query_cover, text_cover, self.gram_cosine(text))

    def gram_cosine(self, text: str) -> FloatArray:
        """Best cosine similarity of character bigrams between `text` and each entry's texts."""
        query = self.grams.weigh(self.analyzer.gram_terms(text))
        qnorm = math.sqrt(sum(w * w for w in query.values()))
        if qnorm == 0:
            return np.zeros(len(self.faq.entries))
        dots = self.grams.text_overlap(
            {t: w * self.grams.idf.get(t, 0.0) for t, w in query.items()}
        )
        norms = self.grams.text_norm * qnorm
        cos = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        return self.grams.per_entry_max(cos)

    def combine(self, s: Signals) -> FloatArray:
        """One score per entry in 0..1 from the signals."""
        word = np.sqrt(s.query_cover * s.text_cover)
        return 0.7 * word + 0.3 * s.grams

    def fuzzy(self, query: str, entry_index: int) -> float:
        """rapidfuzz similarity of a cleaned message to the entry's closest text (0..1)."""
        if not query:
            return 0.0
        return max(fuzz.ratio(query, t) for t in self._clean[entry_index]) / 100.0

    def lexical(self, text: str) -> tuple[Signals, FloatArray]:
        """The signals of `text` and one lexical score per entry in 0..1."""
        signals = self.signals(text)
        scores = self.combine(signals)
        k = min(len(scores), SHORTLIST)
        if k == 0:
            return signals, scores
        query = clean(question_part(text) or text)
        for i in np.argpartition(-scores, k - 1)[:k].tolist():
            # A near-verbatim question is the strongest evidence there is.
            fz = self.fuzzy(query, i)
            if fz >= 0.9:
                scores[i] = max(float(scores[i]), fz)
        return signals, scores

    def rank(self, text: str, limit: int = 5) -> list[ScoredEntry]:
        """Entries best first by lexical score (0..1), those above zero."""
        if not self.faq.entries:
            return []
        _, scores = self.lexical(text)
        k = min(len(scores), limit)
        top = np.argpartition(-scores, k - 1)[:k]
        ordered = sorted(top.tolist(), key=lambda i: (-scores[i], i))
        return [
            ScoredEntry(self.faq.entries[i], float(scores[i])) for i in ordered if scores[i] > 0
        ]

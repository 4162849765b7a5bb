"""What the decision model sees of one candidate entry for one message.

A candidate is an entry near the top of either ranker (words or meaning). Its features
say how well it matches on each signal and, as much, how far it stands from the others:
margins and agreement carry over from one FAQ to another better than raw scores do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.faq.postings import FloatArray, IntArray

CANDIDATES_PER_RANKER = 5

# Lexical features first; the semantic ones are zero when no embedder is configured.
LEXICAL_FEATURES = ("lex", "lex_gap", "lex_top", "query_cover", "text_cover", "grams")
SEMANTIC_FEATURES = (
    "sem",
    "sem_gap",
    "sem_top",
    "sem_z",
    "agree",
    "ans",
    "ans_gap",
    "floor",
    "agree_floor",
    "profile",
    "profile_gap",
)
FEATURES = LEXICAL_FEATURES + SEMANTIC_FEATURES


@dataclass(frozen=True)
class Evidence:
    """Per-entry scores of one message (arrays over all entries)."""

    lexical: FloatArray  # the word/character score, 0..1
    query_cover: FloatArray  # share of the message's words the entry knows
    text_cover: FloatArray  # share of the entry's best text the message covers
    grams: FloatArray  # character bigram cosine
    semantic: FloatArray | None = None  # embedding cosine to the questions (no embedder: None)
    answers: FloatArray | None = None  # embedding cosine to the answer
    profile: FloatArray | None = None  # embedding cosine to the entry's profile (all its texts)


def _gap(scores: FloatArray, i: int, order: IntArray) -> float:
    """How far entry i stands above the best other entry (negative when below)."""
    if len(order) < 2:
        return float(scores[i])  # the only entry: it stands above nothing
    best_other = order[1] if order[0] == i else order[0]
    return float(scores[i] - scores[best_other])


def _top(scores: FloatArray, k: int) -> IntArray:
    """Indices of the k best entries, best first (ties by entry order)."""
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return np.asarray(sorted(part.tolist(), key=lambda i: (-scores[i], i)), dtype=np.int64)


def candidate_features(evidence: Evidence) -> tuple[list[int], FloatArray]:
    """The candidate entries of a message and one feature row each (FEATURES order)."""
    lex = evidence.lexical
    if len(lex) == 0:
        return [], np.zeros((0, len(FEATURES)))
    lex_order = _top(lex, max(CANDIDATES_PER_RANKER, 2))
    candidates = [i for i in lex_order[:CANDIDATES_PER_RANKER].tolist() if lex[i] > 0]
    sem = evidence.semantic
    sem_order = np.zeros(0, dtype=np.int64)
    mean = std = 0.0
    if sem is not None:
        sem_order = _top(sem, max(CANDIDATES_PER_RANKER, 2))
        candidates += [i for i in sem_order[:CANDIDATES_PER_RANKER].tolist() if i not in candidates]
        mean, std = float(sem.mean()), float(sem.std())
    answers = evidence.answers if evidence.answers is not None else np.zeros(len(lex))
    answer_order = _top(answers, 2)
    profile = evidence.profile if evidence.profile is not None else np.zeros(len(lex))
    profile_order = _top(profile, 2)
    rows = []
    for i in candidates:
        row = [
            float(lex[i]),
            _gap(lex, i, lex_order),
            float(lex_order[0] == i),
            float(evidence.query_cover[i]),
            float(evidence.text_cover[i]),
            float(evidence.grams[i]),
        ]
        if sem is None:
            row += [0.0] * len(SEMANTIC_FEATURES)
        else:
            row += [
                float(sem[i]),
                _gap(sem, i, sem_order),
                float(sem_order[0] == i),
                (float(sem[i]) - mean) / std if std > 0 else 0.0,
                float(lex_order[0] == i and sem_order[0] == i),
                float(answers[i]),
                _gap(answers, i, answer_order),
                min(float(lex[i]), float(sem[i])),
                float(lex_order[0] == i and sem_order[0] == i) * min(float(lex[i]), float(sem[i])),
                float(profile[i]),
                _gap(profile, i, profile_order),
            ]
        rows.append(row)
    return candidates, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))

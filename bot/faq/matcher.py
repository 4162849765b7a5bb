"""Turning scores into a decision: answer, suggest or none."""

from __future__ import annotations

from bot.faq.decision import Decision, MatchThresholds, Outcome
from bot.faq.index import FaqIndex


def decide(index: FaqIndex, text: str, thresholds: MatchThresholds) -> Decision:
    """Score `text` against the index and apply the thresholds."""
    ranked = index.rank(text, limit=max(thresholds.max_suggestions, 3) + 2)
    if not ranked:
        return Decision(Outcome.NONE)
    best = ranked[0].score
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    if best >= thresholds.answer_score and best - runner_up >= thresholds.answer_margin:
        return Decision(Outcome.ANSWER, tuple(ranked[: thresholds.max_suggestions]))
    choices = tuple(
        s
        for s in ranked[: thresholds.max_suggestions]
        if s.score >= thresholds.suggest_score and s.score >= best * thresholds.suggest_ratio
    )
    if choices:
        return Decision(Outcome.SUGGEST, choices)
    return Decision(Outcome.NONE, tuple(ranked[: thresholds.max_suggestions]))

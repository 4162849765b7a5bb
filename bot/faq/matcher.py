"""Turning a message into a decision: answer, suggest or none."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.faq.analyzer import Analyzer
from bot.faq.decision import Decision, Outcome, ScoredEntry
from bot.faq.features import Evidence, candidate_features
from bot.faq.index import FaqIndex
from bot.faq.normalize import matchable
from bot.faq.policy import DecisionPolicy
from bot.faq.semantic import SemanticIndex
from bot.faq.topic import open_topic

MAX_SUGGESTIONS = 3


def decide_outcome(best: float, policy: DecisionPolicy, topic_only: bool = False) -> Outcome:
    """The rule: answer when the best entry is probably right, offer choices when it may be.

    A message that only names a topic several entries share (`topic_only`, see
    bot/faq/topic.py) gets choices at most: it does not say which entry it means.
    """
    if best >= policy.answer_at:
        return Outcome.SUGGEST if topic_only else Outcome.ANSWER
    if best >= policy.suggest_at:
        return Outcome.SUGGEST
    return Outcome.NONE


@dataclass(frozen=True)
class Matcher:
    """The indexes of one FAQ load and the policy that turns their evidence into decisions."""

    index: FaqIndex
    semantic: SemanticIndex | None
    policy: DecisionPolicy
    policy_source: str = ""  # where the policy was read from, for admins

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer of the lexical index."""
        return self.index.analyzer

    def evidence(self, text: str) -> Evidence:
        """Every signal of `text` against every entry."""
        text = matchable(text)
        signals, lexical = self.index.lexical(text)
        if self.semantic is None:
            return Evidence(lexical, signals.query_cover, signals.text_cover, signals.grams)
        meaning = self.semantic.meaning(text)
        return Evidence(
            lexical,
            signals.query_cover,
            signals.text_cover,
            signals.grams,
            meaning.questions,
            meaning.answers,
            meaning.profile,
        )

    def ranked(self, evidence: Evidence) -> list[ScoredEntry]:
        """Candidates best first, each scored with P(it is the right answer)."""
        candidates, rows = candidate_features(evidence)
        probabilities = self.policy.probabilities(rows)
        order = np.argsort(-probabilities, kind="stable")
        entries = self.index.faq.entries
        return [ScoredEntry(entries[candidates[i]], float(probabilities[i])) for i in order]

    def decide(self, text: str, max_suggestions: int = MAX_SUGGESTIONS) -> Decision:
        """Answer, suggest or none for one message."""
        ranked = self.ranked(self.evidence(text))
        if not ranked:
            return Decision(Outcome.NONE)
        outcome = decide_outcome(ranked[0].score, self.policy, open_topic(self.index, text))
        return Decision(outcome, tuple(ranked[:max_suggestions]))

"""Fitting the decision policy on labelled messages, and measuring it by cross-validation.

The weights are a conditional logit: for each message, which of its candidates is the
expected entry, or none of them. The thresholds come from out-of-fold probabilities (never from the
messages the weights were fitted on): `answer_at` is the lowest probability from which
direct answers keep the target precision, `suggest_at` the lowest from which choices
still reach (almost) every expected entry, so that messages below it are refused.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.faq.decision import Decision, ScoredEntry
from bot.faq.evaluation import CaseResult, EvalCase
from bot.faq.features import FEATURES, candidate_features
from bot.faq.matcher import MAX_SUGGESTIONS, Matcher, decide_outcome
from bot.faq.model import FaqEntry
from bot.faq.policy import DecisionPolicy, choice_probabilities
from bot.faq.postings import FloatArray
from bot.faq.topic import open_topic

TARGET_PRECISION = 0.95
# Choices are offered from the probability that keeps this share of the in-scope messages
# whose entry is among the top three; below it the bot refuses (the FAQ has nothing).
CHOICES_KEEP_SHARE = 0.98
L2 = 1.0  # ridge penalty on standardised features: a few hundred messages, a dozen features
FOLDS = 5


@dataclass(frozen=True)
class Sample:
    """One labelled message with its candidates and their features."""

    case: EvalCase
    entries: tuple[FaqEntry, ...]
    rows: FloatArray
    ms: float  # time to compute the evidence (the bulk of a decision)
    topic_only: bool = False  # names a topic several entries share: never answered directly

    @property
    def labels(self) -> FloatArray:
        """1 for the expected entry among the candidates, else 0."""
        return np.asarray([float(e.id == self.case.expect) for e in self.entries])


def collect(matcher: Matcher, cases: Sequence[EvalCase]) -> list[Sample]:
    """Compute every case's candidates and features once (embedding is the slow part)."""
    matcher.evidence("warm up")
    samples = []
    for case in cases:
        start = time.perf_counter()
        candidates, rows = candidate_features(matcher.evidence(case.text))
        ms = (time.perf_counter() - start) * 1000.0
        entries = tuple(matcher.index.faq.entries[i] for i in candidates)
        topic_only = open_topic(matcher.index, case.text)
        samples.append(Sample(case, entries, rows, ms, topic_only))
    return samples


@dataclass(frozen=True)
class ChoiceModel:
    """Standardisation and weights of a fitted conditional logit."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    bias: float

    def probabilities(self, rows: FloatArray) -> FloatArray:
        """P(right answer) of each candidate of one message."""
        z = (rows - self.mean) / self.scale
        return choice_probabilities(z @ self.weights + self.bias)


def _padded(
    samples: Sequence[Sample], mean: FloatArray, scale: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.bool_], FloatArray]:
    """Standardised rows of every message with candidates, padded to one 3-D array
    (message, candidate, feature + bias), the mask of real candidates and the labels."""
    groups = [s for s in samples if len(s.rows)]
    width, most = len(mean), max((len(s.rows) for s in groups), default=0)
    z = np.zeros((len(groups), most, width + 1))
    real = np.zeros((len(groups), most), dtype=bool)
    labels = np.zeros((len(groups), most))
    for g, s in enumerate(groups):
        k = len(s.rows)
        z[g, :k, :width] = (s.rows - mean) / scale
        z[g, :k, width] = 1.0
        real[g, :k] = True
        labels[g, :k] = s.labels
    return z, real, labels


def fit_choice_model(samples: Sequence[Sample], l2: float = L2) -> ChoiceModel:
    """Fit the conditional logit by Newton's method: for each message, the expected entry
    (or "none of them" for a message the FAQ cannot answer) against its other candidates.

    All messages at once: their candidates padded to one array, the padding masked out.
    """
    rows = [s.rows for s in samples if len(s.rows)]
    width = len(FEATURES)
    stacked = np.vstack(rows) if rows else np.zeros((0, width))
    mean = stacked.mean(axis=0) if len(stacked) else np.zeros(width)
    scale = stacked.std(axis=0) if len(stacked) else np.ones(width)
    scale = np.where(scale > 1e-9, scale, 1.0)  # constant features (no embedder) stay inert
    z, real, labels = _padded(samples, mean, scale)
    answerable = labels.any(axis=1)
    penalty = np.full(width + 1, l2)
    penalty[-1] = 0.0  # the bias (how often "none" wins) is not shrunk

    def probabilities(w: FloatArray) -> FloatArray:
        scores = np.where(real, z @ w, -np.inf)
        top = np.maximum(0.0, scores.max(axis=1, keepdims=True, initial=0.0))
        weights = np.exp(scores - top)
        return np.asarray(weights / (np.exp(-top) + weights.sum(axis=1, keepdims=True)))

    def loss(w: FloatArray) -> float:
        p = probabilities(w)
        chosen = np.where(answerable, (labels * p).sum(axis=1), 1.0 - p.sum(axis=1))
        return 0.5 * float(penalty @ (w * w)) - float(np.log(np.maximum(chosen, 1e-300)).sum())

    w = np.zeros(width + 1)
    current = loss(w)
    for _ in range(100):
        p = probabilities(w)
        expected = np.einsum("gc,gcf->gf", p, z)
        gradient = penalty * w + (expected - np.einsum("gc,gcf->gf", labels, z)).sum(axis=0)
        hessian = (
            np.diag(penalty + 1e-6) + np.einsum("gc,gcf,gch->fh", p, z, z) - expected.T @ expected
        )
        step = np.linalg.solve(hessian, gradient)
        # Newton's step can overshoot far from the optimum: halve it until the loss falls.
        shrink = 1.0
        while shrink > 1e-4 and loss(w - shrink * step) > current:
            shrink /= 2
        w = w - shrink * step
        previous, current = current, loss(w)
        if previous - current < 1e-9:
            break
    return ChoiceModel(mean, scale, w[:-1], float(w[-1]))


def _policy(
    fit: ChoiceModel, embedder: str, answer_at: float, suggest_at: float, on: str
) -> DecisionPolicy:
    return DecisionPolicy(
        embedder=embedder,
        mean=tuple(round(float(v), 6) for v in fit.mean),
        scale=tuple(round(float(v), 6) for v in fit.scale),
        weights=tuple(round(float(v), 6) for v in fit.weights),
        bias=round(fit.bias, 6),
        answer_at=round(answer_at, 6),
        suggest_at=round(suggest_at, 6),
        fitted_on=on,
    )


def decision_for(sample: Sample, policy: DecisionPolicy) -> Decision:
    """What the matcher decides for a sample under `policy` (same rule as at run time)."""
    if not sample.entries:
        return Decision(decide_outcome(0.0, policy))
    p = policy.probabilities(sample.rows)
    order = np.argsort(-p, kind="stable")
    ranked = tuple(ScoredEntry(sample.entries[i], float(p[i])) for i in order)
    outcome = decide_outcome(ranked[0].score, policy, sample.topic_only)
    return Decision(outcome, ranked[:MAX_SUGGESTIONS])


def folds_of(n: int, k: int, seed: int = 7) -> list[list[int]]:
    """Indices 0..n-1 shuffled (reproducibly) into k folds."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)] if n else []


@dataclass(frozen=True)
class HeldOut:
    """One out-of-fold message as the thresholds see it."""

    p: float  # the best candidate's probability
    right: bool  # the best candidate is the expected entry
    top3: bool  # the expected entry is among the three best
    in_scope: bool  # some entry answers the message
    answerable: bool = True  # False for a topic-only message: never answered directly


def choose_thresholds(best: list[HeldOut], precision: float) -> tuple[float, float]:
    """`answer_at` and `suggest_at` from out-of-fold outcomes.

    answer_at: the lowest best-candidate probability at which answering every message
    from there up keeps `precision` (topic-only messages are not answered, so they do not
    count). suggest_at: the highest probability that keeps CHOICES_KEEP_SHARE of the
    in-scope messages whose entry is among the top three: messages below it are refused.
    """
    ordered = sorted((b for b in best if b.answerable), key=lambda b: -b.p)
    answer_at, right = 1.0, 0
    for k, b in enumerate(ordered, start=1):
        right += b.right
        if right / k >= precision:
            answer_at = b.p
    reachable = sorted((b.p for b in best if b.top3 and b.in_scope), reverse=True)
    if not reachable:
        return answer_at, answer_at
    keep = max(1, int(np.ceil(CHOICES_KEEP_SHARE * len(reachable))))
    return answer_at, min(reachable[keep - 1], answer_at)


def _outcomes(samples: Sequence[Sample], fit: ChoiceModel) -> list[HeldOut]:
    out = []
    for s in samples:
        if not s.entries:
            out.append(HeldOut(0.0, False, False, bool(s.case.expect)))
            continue
        p = fit.probabilities(s.rows)
        order = np.argsort(-p, kind="stable")
        ids = [s.entries[i].id for i in order]
        expect = s.case.expect
        out.append(
            HeldOut(
                float(p[order[0]]),
                ids[0] == expect,
                expect in ids[:MAX_SUGGESTIONS],
                bool(expect),
                not s.topic_only,
            )
        )
    return out


def fit_policy(
    samples: Sequence[Sample],
    embedder: str,
    *,
    precision: float = TARGET_PRECISION,
    fitted_on: str = "",
    folds: int = FOLDS,
) -> DecisionPolicy:
    """Weights fitted on all `samples`; thresholds from their out-of-fold probabilities."""
    held_out: list[HeldOut] = []
    for fold in folds_of(len(samples), min(folds, max(2, len(samples)))):
        inside = set(fold)
        train = [s for i, s in enumerate(samples) if i not in inside]
        held_out += _outcomes([samples[i] for i in fold], fit_choice_model(train))
    answer_at, suggest_at = choose_thresholds(held_out, precision)
    return _policy(fit_choice_model(samples), embedder, answer_at, suggest_at, fitted_on)


def cross_validate(
    samples: Sequence[Sample],
    embedder: str,
    *,
    precision: float = TARGET_PRECISION,
    folds: int = FOLDS,
) -> list[CaseResult]:
    """Every sample decided by a policy fitted (weights and thresholds) without it."""
    results: dict[int, CaseResult] = {}
    for fold in folds_of(len(samples), folds):
        inside = set(fold)
        train = [s for i, s in enumerate(samples) if i not in inside]
        policy = fit_policy(train, embedder, precision=precision, folds=folds)
        for i in fold:
            s = samples[i]
            results[i] = CaseResult(s.case, decision_for(s, policy), s.ms)
    return [results[i] for i in range(len(samples))]

"""Measuring the matcher on labelled customer messages (`tsunagu faq eval`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from bot.faq.decision import Decision, Outcome
from bot.faq.library import FaqLibrary


class EvalCase(BaseModel):
    """One customer message and the entry a careful human would answer with (or None)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    expect: str | None = None
    locale: str | None = None


class EvalFile(BaseModel):
    """A cases file: `cases:` list."""

    cases: list[EvalCase]


def load_cases(path: Path) -> list[EvalCase]:
    """Read a cases YAML file."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return EvalFile.model_validate(data).cases


@dataclass(frozen=True)
class CaseResult:
    """What the matcher did with one case, and how long it took."""

    case: EvalCase
    decision: Decision
    ms: float

    @property
    def answered(self) -> str | None:
        """The id answered directly, if the outcome was an answer."""
        best = self.decision.best
        return best.entry.id if self.decision.outcome is Outcome.ANSWER and best else None

    @property
    def offered(self) -> list[str]:
        """Ids the customer sees: the answer, or the suggestions."""
        if self.decision.outcome is Outcome.ANSWER:
            return [self.answered] if self.answered else []
        if self.decision.outcome is Outcome.SUGGEST:
            return [c.entry.id for c in self.decision.candidates[:3]]
        return []

    @property
    def ok(self) -> bool:
        """Right answer for in-scope cases; no direct answer for out-of-scope ones."""
        return self.answered == self.case.expect if self.case.expect else self.answered is None


def run_cases(library: FaqLibrary, cases: list[EvalCase]) -> list[CaseResult]:
    """Run every case through the library's decision, timing each."""
    library.decide("warm up")  # first call pays for lazy caches; not what customers see
    results = []
    for case in cases:
        start = time.perf_counter()
        decision = library.decide(case.text, case.locale)
        ms = (time.perf_counter() - start) * 1000.0
        results.append(CaseResult(case, decision, ms))
    return results


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[pos], 4)


def metrics(results: list[CaseResult]) -> dict[str, float | int]:
    """The summary figures defined in the evaluation README."""
    in_scope = [r for r in results if r.case.expect]
    out_scope = [r for r in results if not r.case.expect]
    answers = [r for r in results if r.answered]
    return {
        "cases": len(results),
        "in_scope": len(in_scope),
        "out_of_scope": len(out_scope),
        "answer_recall": _ratio(sum(r.answered == r.case.expect for r in in_scope), len(in_scope)),
        "answer_precision": _ratio(sum(r.answered == r.case.expect for r in answers), len(answers)),
        "top3_recall": _ratio(sum(r.case.expect in r.offered for r in in_scope), len(in_scope)),
        "out_of_scope_rejection": _ratio(
            sum(r.answered is None for r in out_scope), len(out_scope)
        ),
        "p50_ms": _percentile([r.ms for r in results], 0.5),
        "p99_ms": _percentile([r.ms for r in results], 0.99),
    }


def describe(result: CaseResult) -> str:
    """A readable account of one case: text, expectation, outcome and scores."""
    d = result.decision
    scores = ", ".join(f"{c.entry.id} {c.score:.3f}" for c in d.candidates[:3]) or "-"
    expect = result.case.expect or "(out of scope)"
    return f"  {result.case.text!r}\n    expected {expect}; got {d.outcome.value}: {scores}"


def report_lines(results: list[CaseResult]) -> list[str]:
    """The human-readable part of the eval report (misses, then counts)."""
    misses = [r for r in results if not r.ok]
    wrong = [r for r in misses if r.answered]
    unsure = [r for r in misses if not r.answered]
    lines = []
    if wrong:
        lines += [f"Answered wrongly ({len(wrong)}):", *map(describe, wrong), ""]
    if unsure:
        lines += [f"Not answered directly ({len(unsure)}):", *map(describe, unsure), ""]
    ok = len(results) - len(misses)
    lines.append(f"{ok}/{len(results)} cases handled as expected.")
    return lines

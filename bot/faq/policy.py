"""The decision model: P(this entry is the right answer) from the candidates' features.

A multinomial (conditional) logit over a handful of features (`bot/faq/features.py`):
each candidate scores a weighted sum of its features, "none of them" scores 0, and a
softmax turns the scores into probabilities that sum to at most 1. Then two
thresholds on the best candidate's probability: from `answer_at` the bot answers, from
`suggest_at` it offers choices, below it says it has nothing. The weights and thresholds
are fitted on labelled messages (`tsunagu faq tune`) and stored as JSON: in the FAQ
directory (`decision.json`) when the admin has tuned, else the default packaged with the
bot. A file holds one policy per embedder, since the features differ with and without one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bot.faq.features import FEATURES
from bot.faq.postings import FloatArray

logger = logging.getLogger("tsunagu.faq")

DECISION_FILE = "decision.json"  # in the FAQ directory, written by `tsunagu faq tune`
DEFAULT_RESOURCE = "default_decision.json"  # packaged in bot/faq
FORMAT = 1


def choice_probabilities(scores: FloatArray) -> FloatArray:
    """P(each candidate is the answer) against "none of them", which scores 0 (a softmax).

    Candidates compete: two good ones share the probability, so neither is answered.
    """
    top = max(0.0, float(scores.max())) if len(scores) else 0.0
    weights = np.exp(scores - top)
    return np.asarray(weights / (np.exp(-top) + weights.sum()), dtype=np.float64)


class DecisionFileError(ValueError):
    """A decision file that cannot be used (unreadable, wrong format, other features)."""


@dataclass(frozen=True)
class DecisionPolicy:
    """Fitted weights and thresholds for one embedder ('none' for words only)."""

    embedder: str
    mean: tuple[float, ...]  # feature standardisation
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    answer_at: float
    suggest_at: float
    fitted_on: str = ""  # what data, for the humans reading the file
    features: tuple[str, ...] = field(default=FEATURES)

    def probabilities(self, rows: FloatArray) -> FloatArray:
        """P(right answer) for each candidate's feature row (one message's candidates)."""
        if len(rows) == 0:
            return np.zeros(0)
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return choice_probabilities(z @ np.asarray(self.weights) + self.bias)

    def to_json(self) -> dict[str, Any]:
        """The policy as a JSON-ready mapping."""
        data = asdict(self)
        data["features"] = list(self.features)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DecisionPolicy:
        """Read a policy; refuses one fitted on other features than this version computes."""
        try:
            policy = cls(
                embedder=str(data["embedder"]),
                mean=tuple(float(x) for x in data["mean"]),
                scale=tuple(float(x) for x in data["scale"]),
                weights=tuple(float(x) for x in data["weights"]),
                bias=float(data["bias"]),
                answer_at=float(data["answer_at"]),
                suggest_at=float(data["suggest_at"]),
                fitted_on=str(data.get("fitted_on", "")),
                features=tuple(str(f) for f in data["features"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DecisionFileError(f"malformed decision policy: {exc!r}") from exc
        if policy.features != FEATURES or not (
            len(policy.mean) == len(policy.scale) == len(policy.weights) == len(FEATURES)
        ):
            raise DecisionFileError(
                f"decision policy uses features {list(policy.features)}, this version "
                f"computes {list(FEATURES)}: run `tsunagu faq tune` again"
            )
        return policy


def read_policies(text: str) -> dict[str, DecisionPolicy]:
    """Policies by embedder name from a decision file's text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecisionFileError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DecisionFileError(f'expected an object with "format": {FORMAT}')
    policies = data.get("policies")
    if not isinstance(policies, dict):
        raise DecisionFileError('expected "policies": {embedder: policy}')
    return {str(name): DecisionPolicy.from_json(p) for name, p in policies.items()}


def write_policy(path: Path, policy: DecisionPolicy) -> None:
    """Store `policy` in the decision file at `path`, keeping policies for other embedders."""
    policies: dict[str, DecisionPolicy] = {}
    if path.exists():
        try:
            policies = read_policies(path.read_text(encoding="utf-8"))
        except DecisionFileError:
            policies = {}  # replaced by a valid file
    policies[policy.embedder] = policy
    body = {"format": FORMAT, "policies": {k: v.to_json() for k, v in sorted(policies.items())}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # a watching server never reads half a file


def default_policies() -> dict[str, DecisionPolicy]:
    """The policies packaged with the bot."""
    text = resources.files("bot.faq").joinpath(DEFAULT_RESOURCE).read_text(encoding="utf-8")
    return read_policies(text)


PACKAGED = "packaged default"


def load_policy(faq_dir: Path, embedder: str) -> tuple[DecisionPolicy, str]:
    """The policy for `embedder` and where it came from: the FAQ directory's tuned one if
    usable, else the packaged default.

    A broken or stale decision file must not take the bot down: it is logged and skipped.
    """
    path = Path(faq_dir) / DECISION_FILE
    if path.exists():
        try:
            tuned = read_policies(path.read_text(encoding="utf-8"))
            if embedder in tuned:
                return tuned[embedder], str(path)
            logger.warning("%s has no policy for embedder %r: using the default", path, embedder)
        except (OSError, DecisionFileError) as exc:
            logger.error("ignoring %s: %s", path, exc)
    defaults = default_policies()
    if embedder in defaults:
        return defaults[embedder], PACKAGED
    # A custom embedder without a tuned file: its cosines are not usemv3's, so use words only.
    logger.warning("no decision policy for embedder %r: tune one; deciding on words only", embedder)
    return defaults["none"], PACKAGED

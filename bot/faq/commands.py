"""`tsunagu faq ...`: commands for admins who write and test the FAQ."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from bot.faq.decision import Outcome
from bot.faq.embedding import NO_EMBEDDER, EmbeddingCache
from bot.faq.evaluation import load_cases, metrics, report_lines, run_cases
from bot.faq.index import FaqIndex
from bot.faq.learn import MIN_SEEN, LearnSettings
from bot.faq.library import FaqLibrary
from bot.faq.lint import close_questions
from bot.faq.loader import FaqLoadError, load_faq_dir
from bot.faq.merge import ProposalError, apply_proposal, check_proposal, is_proposal
from bot.faq.policy import DECISION_FILE, write_policy
from bot.faq.proposal import proposal_lines, render_proposal
from bot.faq.schema import faq_schema
from bot.faq.semantic import SemanticIndex
from bot.faq.topic import SHARED_BY, topic_phrase, topic_reach
from bot.faq.tuning import FOLDS, TARGET_PRECISION, collect, cross_validate, fit_policy


def _default_dir() -> str:
    return os.environ.get("FAQ_DIR", "faq_data")


faq_dir_option = click.option(
    "--faq-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=_default_dir,
    show_default="$FAQ_DIR or faq_data",
    help="Directory of FAQ YAML files.",
)


def _library(faq_dir: Path) -> FaqLibrary:
    try:
        return FaqLibrary(faq_dir)
    except FaqLoadError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


@click.group(name="faq")
def faq() -> None:
    """Write, check and test the FAQ."""


@faq.command(name="eval")
@click.argument("cases_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@faq_dir_option
def eval_command(cases_file: Path, faq_dir: Path) -> None:
    """Run labelled CASES_FILE through the matcher; the last line is a JSON summary."""
    library = _library(faq_dir)
    results = run_cases(library, load_cases(cases_file))
    for line in report_lines(results):
        click.echo(line)
    click.echo(f"decision policy: {library.policy_source} ({library.policy.fitted_on})")
    click.echo(json.dumps(metrics(results)))


@faq.command(name="check")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@faq_dir_option
def check_command(directory: Path | None, faq_dir: Path) -> None:
    """Validate every FAQ file; warn about entries too close to tell apart.

    Given a proposal file of `tsunagu faq learn`, check that it can be applied to the FAQ.
    """
    target = directory or faq_dir
    if is_proposal(target):
        _check_proposal(target, faq_dir)
        return
    try:
        faq_set = load_faq_dir(target)
    except FaqLoadError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    warnings = close_questions(FaqIndex(faq_set))
    for warning in warnings:
        click.echo(f"warning: {warning}")
    files = len(faq_set.files)
    click.echo(
        f"OK: {len(faq_set.entries)} entries in {files} file{'s' if files != 1 else ''}"
        + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else "")
    )


def _check_proposal(path: Path, faq_dir: Path) -> None:
    checked = check_proposal(path, faq_dir)
    if checked.problems or checked.proposal is None or checked.merged is None:
        click.echo(str(ProposalError(checked.problems)), err=True)
        sys.exit(1)
    for warning in checked.warnings:
        click.echo(f"warning: {warning}")
    proposal = checked.proposal
    added = sum(len(a.add) for a in proposal.alternatives)
    click.echo(
        f"OK: the proposal adds {_count(added, 'alternative')} to "
        f"{_count(len(proposal.alternatives), 'entry', 'entries')} and "
        f"{_count(len(proposal.new), 'new entry', 'new entries')}; the merged FAQ has "
        f"{_count(len(checked.merged.entries), 'entry', 'entries')}"
        + (f", {_count(len(checked.warnings), 'warning')}" if checked.warnings else "")
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@faq.command(name="learn")
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=30,
    show_default=True,
    help="Learn from the last N days, today included.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("faq_proposal.yaml"),
    show_default=True,
    help="Where to write the proposal (an existing file is not overwritten).",
)
@click.option(
    "--apply",
    "apply_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Merge a reviewed proposal into the FAQ directory (keeping a backup) instead.",
)
@click.option(
    "--min-seen",
    type=click.IntRange(1, 1000),
    default=MIN_SEEN,
    show_default=True,
    help="How often a phrasing or question must be seen to be proposed.",
)
@faq_dir_option
def learn_command(
    days: int, out: Path, apply_file: Path | None, min_seen: int, faq_dir: Path
) -> None:
    """Propose FAQ changes from what customers did; nothing changes until --apply.

    Reads the records at REDIS_URL: "did you mean…?" choices customers tapped (new
    alternatives), answers they said did not solve it (entries to rewrite), and questions
    the bot could not answer (new entry drafts, with what agents replied). Writes them to
    --out for review; `tsunagu faq learn --apply FILE` then merges the reviewed file.
    """
    if apply_file is not None:
        _apply(apply_file, faq_dir)
        return
    from bot.reports.commands import with_record_store
    from bot.reports.compute import local_timezone, period_for_days
    from bot.reports.source import learn_from_store
    from bot.settings import Settings

    if out.exists():
        raise click.ClickException(
            f"{out} exists (a proposal under review?): apply or delete it, or pass --out"
        )
    library = _library(faq_dir)
    period = period_for_days(days, tz=local_timezone())
    settings = LearnSettings(min_seen=min_seen)
    proposal = with_record_store(
        Settings(), lambda store: learn_from_store(store, library, period, settings=settings)
    )
    for line in proposal_lines(proposal, days):
        click.echo(line)
    if not proposal.items:
        return
    out.write_text(render_proposal(proposal, str(out)), encoding="utf-8")
    click.echo(f"\nWrote {out}. Review it and write the answers of the new entries, then:")
    click.echo(f"  tsunagu faq check {out}")
    click.echo(f"  tsunagu faq learn --apply {out}")


def _apply(path: Path, faq_dir: Path) -> None:
    try:
        applied = apply_proposal(path, faq_dir, now=datetime.now())
    except ProposalError as exc:
        click.echo(str(exc), err=True)
        click.echo("Nothing was changed.", err=True)
        sys.exit(1)
    click.echo(
        f"Merged {_count(applied.alternatives, 'alternative')} and "
        f"{_count(applied.entries, 'new entry', 'new entries')} into the FAQ."
    )
    for file, backup in zip(applied.files, applied.backups, strict=True):
        click.echo(f"  {file} (backup: {backup.name})")
    for file in applied.rewritten:
        click.echo(f"  note: {file} was written anew: its comments are only in the backup")
    click.echo("A running bot reloads the FAQ within seconds (FAQ_WATCH).")


def _topic_only_line(library: FaqLibrary, text: str) -> str | None:
    """Why a topic-only message gets choices however high its best P, or None.

    The same test as the matcher's (bot/faq/topic.py), on the same text.
    """
    topic = topic_phrase(text)
    if topic is None:
        return None
    shared_by = topic_reach(library.index, topic)
    if shared_by < SHARED_BY:
        return None
    return (
        f"topic only: the message names a topic ({topic}) shared by {shared_by} entries "
        "and asks nothing about it, so choices are offered, not an answer"
    )


@faq.command(name="ask")
@click.argument("text")
@click.option("--locale", default=None, help="Customer locale, e.g. ja or en.")
@click.option("--top", default=5, show_default=True, help="How many scores to show.")
@faq_dir_option
def ask_command(text: str, locale: str | None, top: int, faq_dir: Path) -> None:
    """Show what the bot would do with TEXT, and each candidate's probability."""
    library = _library(faq_dir)
    decision = library.decide(text, locale)
    click.echo(f"decision: {decision.outcome.value}")
    if decision.outcome is Outcome.ANSWER and decision.best:
        click.echo(f"answer ({decision.best.entry.id}): {decision.best.entry.answer_for(locale)}")
    elif decision.outcome is Outcome.SUGGEST:
        for choice in decision.candidates:
            click.echo(f"choice: {choice.entry.label_for(locale)} ({choice.entry.id})")
        # Without it, a P above `answer_at` next to "suggest" reads like a bug.
        topic_line = _topic_only_line(library, text)
        if topic_line:
            click.echo(topic_line)
    policy = library.policy
    click.echo(
        f"policy ({policy.embedder}): answer from P >= {policy.answer_at:.3f}, "
        f"choices from {policy.suggest_at:.3f}"
    )
    click.echo("candidates (P right answer):")
    for scored in library.matcher.ranked(library.matcher.evidence(text))[:top]:
        click.echo(f"  {scored.score:.3f}  {scored.entry.id}  {scored.entry.question}")


@faq.command(name="tune")
@click.argument("cases_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@faq_dir_option
@click.option(
    "--precision",
    default=TARGET_PRECISION,
    show_default=True,
    type=click.FloatRange(0.5, 1.0),
    help="Share of direct answers that must be right.",
)
@click.option("--folds", default=FOLDS, show_default=True, type=click.IntRange(2, 20))
def tune_command(cases_file: Path, faq_dir: Path, precision: float, folds: int) -> None:
    """Fit when to answer on labelled CASES_FILE; write it to the FAQ directory.

    Prints cross-validated figures (each message decided by a policy fitted without it),
    never the in-sample ones; the last line is JSON like `faq eval`'s.
    """
    library = _library(faq_dir)
    cases = load_cases(cases_file)
    if not any(c.expect for c in cases):
        click.echo("the cases need messages the FAQ answers (expect: entry-id)", err=True)
        sys.exit(1)
    unknown = sorted({c.expect for c in cases if c.expect and library.entry(c.expect) is None})
    if unknown:
        click.echo(f"cases expect entries the FAQ lacks: {', '.join(unknown)}", err=True)
        sys.exit(1)
    embedder = library.embedder.name if library.embedder else NO_EMBEDDER
    # Evidence with the semantic signal even if the current policy is words only.
    matcher = library.matcher
    if matcher.semantic is None and library.embedder is not None:
        matcher = replace(
            matcher, semantic=SemanticIndex(matcher.index.faq, EmbeddingCache(library.embedder))
        )
    samples = collect(matcher, cases)
    results = cross_validate(samples, embedder, precision=precision, folds=folds)
    for line in report_lines(results):
        click.echo(line)
    policy = fit_policy(
        samples,
        embedder,
        precision=precision,
        folds=folds,
        fitted_on=f"{cases_file.name}: {len(cases)} messages, {folds}-fold CV",
    )
    path = faq_dir / DECISION_FILE
    write_policy(path, policy)
    click.echo(
        f"wrote {path}: answer from P >= {policy.answer_at:.3f}, choices from "
        f"{policy.suggest_at:.3f} (figures below are {folds}-fold cross-validated)"
    )
    click.echo(json.dumps(metrics(results)))


@faq.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of FAQ files (for editor validation and completion)."""
    click.echo(json.dumps(faq_schema(), ensure_ascii=False, indent=2))

"""`tsunagu faq ...`: commands for admins who write and test the FAQ."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from bot.faq.decision import Outcome
from bot.faq.evaluation import load_cases, metrics, report_lines, run_cases
from bot.faq.index import FaqIndex
from bot.faq.library import FaqLibrary
from bot.faq.lint import close_questions
from bot.faq.loader import FaqLoadError, load_faq_dir
from bot.faq.schema import faq_schema


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
    click.echo(json.dumps(metrics(results)))


@faq.command(name="check")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@faq_dir_option
def check_command(directory: Path | None, faq_dir: Path) -> None:
    """Validate every FAQ file; warn about entries too close to tell apart."""
    target = directory or faq_dir
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


@faq.command(name="ask")
@click.argument("text")
@click.option("--locale", default=None, help="Customer locale, e.g. ja or en.")
@click.option("--top", default=5, show_default=True, help="How many scores to show.")
@faq_dir_option
def ask_command(text: str, locale: str | None, top: int, faq_dir: Path) -> None:
    """Show what the bot would do with TEXT, and the top scores."""
    library = _library(faq_dir)
    decision = library.decide(text, locale)
    click.echo(f"decision: {decision.outcome.value}")
    if decision.outcome is Outcome.ANSWER and decision.best:
        click.echo(f"answer ({decision.best.entry.id}): {decision.best.entry.answer_for(locale)}")
    elif decision.outcome is Outcome.SUGGEST:
        for choice in decision.candidates:
            click.echo(f"choice: {choice.entry.label_for(locale)} ({choice.entry.id})")
    t = library.thresholds
    click.echo(
        f"thresholds: answer >= {t.answer_score} with a lead of {t.answer_margin}, "
        f"suggest >= {t.suggest_score}"
    )
    click.echo("top scores:")
    for scored in library.index.rank(text, limit=top):
        click.echo(f"  {scored.score:.3f}  {scored.entry.id}  {scored.entry.question}")


@faq.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of FAQ files (for editor validation and completion)."""
    click.echo(json.dumps(faq_schema(), ensure_ascii=False, indent=2))

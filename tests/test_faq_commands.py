"""`tsunagu faq` commands as an admin uses them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.faq.commands import faq

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "faq_data")


def test_eval_prints_report_and_json_last_line(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - text: 送料はいくら？\n    expect: shipping-fee\n"
        "  - text: 返品したい\n    expect: cancel-order\n"
        "  - text: 明日の天気は？\n    expect: null\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(faq, ["eval", str(cases), "--faq-dir", SAMPLE])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["cases"] == 3 and summary["in_scope"] == 2 and summary["out_of_scope"] == 1
    assert summary["answer_recall"] == 0.5 and summary["out_of_scope_rejection"] == 1.0
    assert {"answer_precision", "top3_recall", "p50_ms", "p99_ms"} <= set(summary)
    assert "返品したい" in result.output and "expected cancel-order" in result.output


def test_check_reports_problems_and_close_questions(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(faq, ["check", SAMPLE])
    assert ok.exit_code == 0 and "OK: 34 entries" in ok.output
    (tmp_path / "a.yaml").write_text(
        "faqs:\n  - id: fee\n    question: 送料はいくらですか\n    answer: 550円\n"
        "  - id: fee-2\n    question: 送料はいくらですか？\n    answer: 600円\n",
        encoding="utf-8",
    )
    close = runner.invoke(faq, ["check", str(tmp_path)])
    assert close.exit_code == 0 and "'fee' and 'fee-2' are too close" in close.output
    (tmp_path / "b.yaml").write_text("faqs:\n  - id: x\n    question: Q\n    answer: ''\n")
    bad = runner.invoke(faq, ["check", str(tmp_path)])
    assert bad.exit_code == 1 and "b.yaml:4: faqs[0].answer" in bad.output


def test_ask_shows_decision_and_scores() -> None:
    result = CliRunner().invoke(
        faq, ["ask", "How much is shipping?", "--locale", "en", "--faq-dir", SAMPLE]
    )
    assert result.exit_code == 0
    assert "decision: answer" in result.output and "550 yen" in result.output
    assert "shipping-fee" in result.output and "candidates (P right answer):" in result.output


def test_ask_says_why_a_topic_only_message_gets_choices() -> None:
    result = CliRunner().invoke(faq, ["ask", "メールについて", "--faq-dir", SAMPLE])
    assert result.exit_code == 0
    assert "decision: suggest" in result.output
    assert "topic only: the message names a topic (メール) shared by 3 entries" in result.output
    asked = CliRunner().invoke(faq, ["ask", "送料はいくら？", "--faq-dir", SAMPLE])
    assert "decision: answer" in asked.output and "topic only" not in asked.output


def test_schema_matches_the_shipped_file() -> None:
    result = CliRunner().invoke(faq, ["schema"])
    schema = json.loads(result.output)
    assert schema["properties"]["faqs"]["type"] == "array"
    shipped = json.loads((ROOT / "faq_data" / "faq.schema.json").read_text(encoding="utf-8"))
    assert shipped == schema

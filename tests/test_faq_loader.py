"""Loading FAQ YAML: good files load, bad ones are reported by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq import FaqLoadError, load_faq_dir

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "faq.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(FaqLoadError) as info:
        load_faq_dir(path)
    return [str(p) for p in info.value.problems]


def test_sample_faq_loads_with_enough_bilingual_entries() -> None:
    faq = load_faq_dir(ROOT / "faq_data")
    assert len(faq.entries) >= 30
    assert all(isinstance(e.answer, dict) and {"ja", "en"} <= set(e.answer) for e in faq.entries)


def test_duplicate_id_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "faqs:\n  - id: a\n    question: Q1\n    answer: A1\n", "one.yaml")
    write(
        tmp_path,
        "faqs:\n  - id: b\n    question: Q\n    answer: A\n"
        "  - id: a\n    question: Q2\n    answer: A2\n",
        "two.yaml",
    )
    [problem] = problems_of(tmp_path)
    assert "two.yaml:5" in problem and "faqs[1].id" in problem
    assert "duplicate id 'a'" in problem and "one.yaml:2" in problem


def test_empty_answer_and_unknown_key_are_located(tmp_path: Path) -> None:
    write(
        tmp_path,
        "faqs:\n  - id: ok\n    question: Q\n    answer: A\n"
        "  - id: bad\n    question: Q\n    answer: ''\n    colour: red\n",
    )
    problems = problems_of(tmp_path)
    assert any("faq.yaml:7: faqs[1].answer" in p for p in problems)
    assert any("faq.yaml:8: faqs[1].colour" in p and "Extra inputs" in p for p in problems)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "faqs:\n  - id: a\n    question: [unclosed\n    answer: A\n")
    [problem] = problems_of(tmp_path)
    assert "faq.yaml:" in problem and "invalid YAML" in problem


def test_bad_id_and_duplicate_key(tmp_path: Path) -> None:
    write(
        tmp_path, "faqs:\n  - id: Bad_Id\n    question: Q\n    question: Q again\n    answer: A\n"
    )
    problems = problems_of(tmp_path)
    assert any("faq.yaml:4: faqs[0].question: key appears twice" in p for p in problems)
    assert any("faq.yaml:2: faqs[0].id" in p for p in problems)


def test_only_yaml_files_count_and_error_reads_well(tmp_path: Path) -> None:
    write(tmp_path, "not yaml: [", "notes.txt")
    with pytest.raises(FaqLoadError) as info:
        load_faq_dir(tmp_path)
    assert str(info.value).startswith("1 problem in the FAQ:")
    assert "no FAQ entries found" in str(info.value)


def test_multilingual_answer_and_labels() -> None:
    faq = load_faq_dir(ROOT / "faq_data")
    entry = next(e for e in faq.entries if e.id == "shipping-fee")
    assert "550円" in entry.answer_for("ja-JP")
    assert "550 yen" in entry.answer_for("en-US")
    assert "550円" in entry.answer_for("fr")  # no French: Japanese
    assert entry.label_for("ja") == "送料はいくらですか？"
    assert entry.label_for("en") == "How much is shipping?"

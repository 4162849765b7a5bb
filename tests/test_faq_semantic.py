"""Meaning as a signal: cross-lingual matches, embeddings cached across reloads, tuning."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bot.faq import FaqLibrary, Outcome
from bot.faq.commands import faq
from bot.faq.embedding import EmbeddingCache, Usem3Embedder, normalise_rows
from bot.faq.model import FaqEntry, FaqSet
from bot.faq.policy import DECISION_FILE
from bot.faq.postings import FloatArray
from bot.faq.semantic import WORDING_SHORTLIST, SemanticIndex

ROOT = Path(__file__).resolve().parent.parent

# Japanese-only and English-only questions; bilingual answers.
FAQ = """\
faqs:
  - id: overseas-shipping
    question: 海外へ発送できますか？
    answer:
      ja: 申し訳ありませんが、発送は日本国内のみです。
      en: Sorry, we only ship within Japan.
  - id: cancel-order
    question: 注文をキャンセルしたい
    answer:
      ja: 発送前ならマイページから取り消せます。
      en: You can cancel from My Page before it ships.
  - id: point-expiry
    question: ポイントの有効期限はいつまでですか
    answer: ポイントは最後のご購入から1年間有効です。
  - id: gift-wrapping
    question: Can you gift wrap my order?
    answer:
      en: Yes, gift wrapping is 300 yen per order.
      ja: はい、ラッピングは1注文300円です。
  - id: opening-hours
    question: What are your opening hours?
    answer:
      en: We are open 10:00-19:00, closed on Wednesdays.
      ja: 営業時間は10時から19時、水曜定休です。
"""


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner = Usem3Embedder()
        self.name = self.inner.name
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> FloatArray:
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory: pytest.TempPathFactory) -> FaqLibrary:
    directory = tmp_path_factory.mktemp("faq")
    (directory / "faq.yaml").write_text(FAQ, encoding="utf-8")
    return FaqLibrary(directory)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Do you deliver outside Japan?", "overseas-shipping"),  # English -> Japanese entry
        ("I'd like to cancel what I ordered", "cancel-order"),
        ("ギフト用に包装してもらえますか", "gift-wrapping"),  # Japanese -> English entry
        ("お店は何時から開いていますか", "opening-hours"),
    ],
)
def test_a_question_finds_an_entry_written_only_in_the_other_language(
    bilingual: FaqLibrary, text: str, expected: str
) -> None:
    decision = bilingual.decide(text)
    assert decision.outcome in (Outcome.ANSWER, Outcome.SUGGEST), decision
    assert decision.best is not None and decision.best.entry.id == expected


def test_the_answer_is_in_the_customers_language_where_the_entry_has_it(
    bilingual: FaqLibrary,
) -> None:
    overseas = bilingual.entry("overseas-shipping")
    points = bilingual.entry("point-expiry")
    assert overseas is not None and points is not None
    assert overseas.answer_for("en") == "Sorry, we only ship within Japan."
    assert points.answer_for("en") == "ポイントは最後のご購入から1年間有効です。"  # only ja


def test_a_reload_embeds_only_the_texts_that_changed(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(FAQ, encoding="utf-8")
    counting = CountingEmbedder()
    library = FaqLibrary(tmp_path, embedder=counting)
    texts = {t for e in library.entries for t in e.texts}
    texts |= {
        a
        for e in library.entries
        for a in (e.answer.values() if isinstance(e.answer, dict) else [e.answer])
    }
    assert sorted(counting.texts) == sorted(texts)  # questions and answers, each once
    embedded = len(counting.texts)

    assert library.reload()
    assert len(counting.texts) == embedded, "nothing changed, nothing embedded"

    changed = FAQ.replace("注文をキャンセルしたい", "注文を取り消したい")
    (tmp_path / "faq.yaml").write_text(changed, encoding="utf-8")
    assert library.reload()
    assert counting.texts[embedded:] == ["注文を取り消したい"]
    assert library.decide("注文を取り消したい").best.entry.id == "cancel-order"  # type: ignore[union-attr]


def test_a_repeated_message_is_embedded_once_and_decided_the_same(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(FAQ, encoding="utf-8")
    counting = CountingEmbedder()
    library = FaqLibrary(tmp_path, embedder=counting)
    embedded = len(counting.texts)

    first = library.decide("Do you deliver outside Japan?")
    assert counting.texts[embedded:] == ["Do you deliver outside Japan?"]
    assert library.reload()  # the same embedder: what it remembered still holds
    again = library.decide("Do you deliver outside Japan?")
    assert counting.texts[embedded:] == ["Do you deliver outside Japan?"], "remembered"
    assert again == first


def test_only_the_latest_messages_are_remembered() -> None:
    counting = CountingEmbedder()
    cache = EmbeddingCache(counting, remembered_messages=2)
    fresh = [cache.embed_message(t) for t in ("はい", "いいえ", "はい", "ありがとう")]
    assert counting.texts == ["はい", "いいえ", "ありがとう"]
    assert fresh[2] is fresh[0]
    cache.embed_message("いいえ")  # the oldest, forgotten when ありがとう came
    assert counting.texts[-1] == "いいえ"
    assert np.array_equal(cache.embed_message("ありがとう"), fresh[3])
    assert counting.texts[-1] == "いいえ", "ありがとう was still remembered"


def test_remembering_no_message_embeds_each_time() -> None:
    counting = CountingEmbedder()
    cache = EmbeddingCache(counting, remembered_messages=0)
    first, second = cache.embed_message("はい"), cache.embed_message("はい")
    assert counting.texts == ["はい", "はい"]
    assert np.array_equal(first, second)


def test_tune_writes_a_decision_file_that_eval_then_uses(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    shutil.copy(ROOT / "faq_data" / "shop.yaml", faq_dir / "shop.yaml")
    cases = tmp_path / "cases.yaml"
    lines = ["cases:"]
    for entry in FaqLibrary(faq_dir).entries:
        for text in entry.texts:
            lines += [
                f"  - text: {json.dumps(text, ensure_ascii=False)}",
                f"    expect: {entry.id}",
            ]
    for text in ("明日の天気は？", "Tell me a joke", "大阪に店舗はありますか", "株価はどう？"):
        lines += [f"  - text: {text}", "    expect: null"]
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")

    runner = CliRunner()
    tuned = runner.invoke(faq, ["tune", str(cases), "--faq-dir", str(faq_dir), "--folds", "3"])
    assert tuned.exit_code == 0, tuned.output
    assert "cross-validated" in tuned.output
    figures = json.loads(tuned.output.strip().splitlines()[-1])
    assert figures["cases"] == len(lines[1:]) // 2
    stored = json.loads((faq_dir / DECISION_FILE).read_text(encoding="utf-8"))
    assert stored["policies"]["usem3"]["fitted_on"].startswith("cases.yaml")

    evaluated = runner.invoke(faq, ["eval", str(cases), "--faq-dir", str(faq_dir)])
    assert evaluated.exit_code == 0
    assert f"decision policy: {faq_dir / DECISION_FILE}" in evaluated.output
    assert set(json.loads(evaluated.output.strip().splitlines()[-1])) == set(figures)


def test_tune_refuses_cases_naming_entries_the_faq_lacks(tmp_path: Path) -> None:
    shutil.copy(ROOT / "faq_data" / "shop.yaml", tmp_path / "shop.yaml")
    cases = tmp_path.parent / f"{tmp_path.name}-cases.yaml"
    cases.write_text("cases:\n  - text: 送料は？\n    expect: no-such-entry\n", encoding="utf-8")
    result = CliRunner().invoke(faq, ["tune", str(cases), "--faq-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no-such-entry" in result.output
    assert not (tmp_path / DECISION_FILE).exists()


def test_an_entry_profile_is_all_its_texts_together_in_a_large_faq_too() -> None:
    products = [
        FaqEntry(
            id=f"item-{k}",
            question=f"商品{k}番の在庫はありますか",
            answer=f"商品{k}番は在庫があります。",
        )
        for k in range(WORDING_SHORTLIST + 6)  # more entries than are compared one by one
    ]
    wrap = FaqEntry(
        id="gift-wrapping",
        question="ギフト包装はできますか？",
        alternatives=["Can you gift wrap it?"],
        answer={"ja": "1注文300円で包装します。", "en": "Gift wrapping is 300 yen per order."},
    )
    cache = EmbeddingCache(Usem3Embedder())
    index = SemanticIndex(FaqSet(entries=(*products, wrap)), cache)
    meaning = index.meaning("プレゼント用に包んでほしい")
    assert int(np.argmax(meaning.profile)) == len(products)
    texts = [*wrap.texts, *wrap.answer.values()]  # type: ignore[union-attr]
    profile = normalise_rows(cache.embed_all(texts).sum(axis=0, keepdims=True))[0]
    message = cache.embed_message("プレゼント用に包んでほしい")
    assert meaning.profile[-1] == pytest.approx(float(profile @ message), abs=1e-5)

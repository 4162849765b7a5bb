"""What customers notice of the matcher: right answers, honest doubts, quick replies."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.faq import FaqLibrary, Outcome
from bot.faq.policy import DECISION_FILE, write_policy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def library() -> FaqLibrary:
    return FaqLibrary(ROOT / "faq_data")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("送料はいくらですか？", "shipping-fee"),
        ("How much is shipping?", "shipping-fee"),
        ("そうりょうはいくらですか", "shipping-fee"),  # hiragana where the FAQ has kanji
        ("ＳＨＩＰＰＩＮＧ  ＣＯＳＴ？", "shipping-fee"),  # full width, upper case
        ("How much is shiping?", "shipping-fee"),  # typo
        ("すみません、質問です。パスワードを忘れてしまいました。教えてください", "forgot-password"),
        ("I want to cancel my purchase", "cancel-order"),
        ("引越ししたので配送先の住所を変えたいです", "change-delivery-address"),
    ],
)
def test_answers_directly(library: FaqLibrary, text: str, expected: str) -> None:
    decision = library.decide(text)
    assert decision.outcome is Outcome.ANSWER, decision
    assert decision.candidates[0].entry.id == expected


def test_long_story_then_question(library: FaqLibrary) -> None:
    text = (
        "先週の日曜日に母の誕生日プレゼントとして急須を注文しました。"
        "とても楽しみにしていて、母にも話してしまいました。"
        "クーポンコードを入れたのですが使えないのはなぜですか？"
    )
    decision = library.decide(text)
    assert decision.best is not None and decision.best.entry.id == "coupon"
    assert decision.outcome is Outcome.ANSWER


@pytest.mark.parametrize("text", ["こんにちは", "ありがとうございました", "Tell me a joke", ""])
def test_nothing_relevant_is_not_answered(library: FaqLibrary, text: str) -> None:
    assert library.decide(text).outcome is Outcome.NONE


@pytest.mark.parametrize(
    "text", ["明日の天気は？", "大阪の株価は？", "Who won the match yesterday?"]
)
def test_off_topic_questions_never_get_an_answer(library: FaqLibrary, text: str) -> None:
    # Choices are allowed (the customer can decline them); a confident wrong answer is not.
    assert library.decide(text).outcome is not Outcome.ANSWER


def test_unsure_offers_up_to_three_choices(library: FaqLibrary) -> None:
    decision = library.decide("メールについて")
    assert decision.outcome is Outcome.SUGGEST
    ids = [c.entry.id for c in decision.candidates]
    assert len(ids) == 3
    assert set(ids) == {"order-confirmation-email", "newsletter-unsubscribe", "change-email"}
    assert [c.score for c in decision.candidates] == sorted(
        (c.score for c in decision.candidates), reverse=True
    )


def test_a_decision_file_in_the_faq_dir_is_used(tmp_path: Path) -> None:
    shutil.copy(ROOT / "faq_data" / "shop.yaml", tmp_path / "shop.yaml")
    shipped = FaqLibrary(tmp_path)
    assert shipped.decide("送料はいくらですか？").outcome is Outcome.ANSWER
    strict = replace(shipped.policy, answer_at=1.01)  # never sure enough to answer
    write_policy(tmp_path / DECISION_FILE, strict)
    assert shipped.reload()
    assert shipped.decide("送料はいくらですか？").outcome is Outcome.SUGGEST


def test_synonyms_from_the_faq_file_are_used(tmp_path: Path) -> None:
    faq = (
        "synonyms:\n  - [湯呑, 湯のみ, ゆのみ, teacup]\n"
        "faqs:\n"
        "  - id: cup-size\n    question: 湯呑の容量は？\n    answer: 200mlです。\n"
        "  - id: shipping\n    question: 送料はいくら？\n    answer: 550円です。\n"
    )
    (tmp_path / "faq.yaml").write_text(faq, encoding="utf-8")
    decision = FaqLibrary(tmp_path).decide("What is the capacity of the teacup?")
    assert decision.best is not None and decision.best.entry.id == "cup-size"

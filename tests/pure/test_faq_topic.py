"""Topic-only messages: named topics shared by several entries get choices, not an answer."""

from __future__ import annotations

import pytest

from bot.faq import FaqLibrary, Outcome
from bot.faq.index import FaqIndex
from bot.faq.model import FaqEntry, FaqSet
from bot.faq.topic import open_topic, topic_phrase, topic_reach


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("メールについて", "メール"),
        ("配送のこと", "配送"),
        ("ポイントって？", "ポイント"),
        ("送料は？", "送料"),
        ("ポイント", "ポイント"),
        ("領収書", "領収書"),
        ("メールの設定について", "メールの設定"),
        ("予約の変更に関して", "予約の変更"),
        ("駐車場のことを教えてください", "駐車場"),
        ("すみません、会員ランクについて質問です", "会員ランク"),
        ("about shipping", "shipping"),
        ("About refunds?", "refunds"),
        ("Hi, question about my points please", "my points"),
        ("Tell me about the parking", "the parking"),
        ("points", "points"),
    ],
)
def test_a_noun_phrase_with_a_topic_marker_is_a_topic(text: str, topic: str) -> None:
    assert topic_phrase(text) == topic


@pytest.mark.parametrize(
    "text",
    [
        "送料はいくら？",  # a question word
        "ホワイトニングいくら",  # a question word Sudachi reads as a noun
        "今何時？",
        "キャンセルしたい",  # a verb
        "返金されません",
        "いつ届く？",
        "駐車場はありますか",
        "大丈夫",  # a predicate of its own
        "追跡番号を教えて",  # asks for the number itself, not about a topic
        "について",  # no topic at all
        "メールについて。変更できますか？",  # a second sentence asks
        "How much is shipping?",
        "Can I return it?",
        "I want to cancel my order",
        "Tell me a joke",
        "",
    ],
)
def test_a_question_or_a_request_is_not_a_topic(text: str) -> None:
    assert topic_phrase(text) is None


def entry(entry_id: str, question: str, *alternatives: str) -> FaqEntry:
    return FaqEntry(
        id=entry_id, question=question, alternatives=list(alternatives), answer="回答です。"
    )


@pytest.fixture(scope="module")
def clinic() -> FaqIndex:
    """A small FAQ of our own: three entries on appointments, one on parking."""
    return FaqIndex(
        FaqSet(
            entries=(
                entry("book", "予約はどうやって取りますか？", "How do I make an appointment?"),
                entry("change", "予約を変更したい", "Can I change my appointment?"),
                entry("cancel-fee", "予約を取り消すと料金はかかりますか？"),
                entry("parking", "駐車場はありますか？", "Is there parking?"),
            )
        )
    )


def test_a_topic_reaches_the_entries_that_name_it(clinic: FaqIndex) -> None:
    assert topic_reach(clinic, "予約") == 3
    assert topic_reach(clinic, "appointment") == 2  # the English alternatives
    assert topic_reach(clinic, "駐車場") == 1
    assert topic_reach(clinic, "予約の変更") == 1  # both words: one entry
    assert topic_reach(clinic, "天気") == 0


@pytest.mark.parametrize(
    ("text", "shared"),
    [
        ("予約について", True),
        ("about appointments", True),
        ("予約", True),
        ("駐車場について", False),  # one entry: it is the answer
        ("parking?", False),
        ("予約を変更したい", False),  # asks something
        ("天気について", False),  # reaches nothing: the policy refuses it as usual
    ],
)
def test_only_a_topic_several_entries_share_is_open(
    clinic: FaqIndex, text: str, shared: bool
) -> None:
    assert open_topic(clinic, text) is shared


@pytest.mark.parametrize(
    "text", ["メールについて", "ポイントって？", "about points", "支払いのこと"]
)
def test_a_shared_topic_on_the_sample_faq_gets_choices(faq: FaqLibrary, text: str) -> None:
    decision = faq.decide(text)
    assert decision.outcome is Outcome.SUGGEST, decision
    assert len(decision.candidates) >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("返品について", "return-policy"),
        ("送料", "shipping-fee"),
        ("送料はいくら？", "shipping-fee"),
    ],
)
def test_a_topic_of_one_entry_or_a_question_is_answered(
    faq: FaqLibrary, text: str, expected: str
) -> None:
    decision = faq.decide(text)
    assert decision.outcome is Outcome.ANSWER, decision
    assert decision.candidates[0].entry.id == expected

"""Katakana words are read as written: SudachiPy sees the script the customer typed."""

from __future__ import annotations

import pytest

from bot.faq.analyzer import Analyzer
from bot.faq.index import FaqIndex
from bot.faq.model import FaqEntry, FaqSet
from bot.faq.topic import open_topic, topic_reach


def words(analyzer: Analyzer, text: str) -> set[str]:
    return {term for unit, _ in analyzer.word_units(text) for term in unit if term[0] == "w"}


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("ポイント", "w:ぽいんと"),  # not ぽい (folded first, it read as an adjective)
        ("キャンセル", "w:きゃんせる"),  # not 侠
        ("アカウント", "w:あかうんと"),  # not nothing at all
        ("ｱｶｳﾝﾄ", "w:あかうんと"),  # half width is widened first
    ],
)
def test_a_katakana_word_is_one_word(text: str, word: str) -> None:
    assert words(Analyzer(), text) == {word}


def test_kana_and_kanji_spellings_still_meet() -> None:
    analyzer = Analyzer()
    assert analyzer.reading("そうりょう") == analyzer.reading("送料")  # by reading
    # A katakana word written in hiragana shares its folded surface grams.
    assert analyzer.gram_terms("キャンセル").keys() >= {"g:きゃ", "g:んせ", "g:せる"}
    assert analyzer.gram_terms("きゃんせる").keys() >= {"g:きゃ", "g:んせ", "g:せる"}


def entry(entry_id: str, question: str) -> FaqEntry:
    return FaqEntry(id=entry_id, question=question, answer="回答です。")


def test_a_katakana_topic_reaches_its_entries() -> None:
    index = FaqIndex(
        FaqSet(
            entries=(
                entry("signup", "アカウントを作るには？"),
                entry("delete", "アカウントを削除したい"),
                entry("hours", "営業時間は？"),
            )
        )
    )
    assert topic_reach(index, "アカウント") == 2
    assert open_topic(index, "アカウントについて")

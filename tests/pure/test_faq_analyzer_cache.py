"""The analyzer keeps the tokenised texts it saw; benchmarks can make it forget them."""

from __future__ import annotations

from bot.faq.analyzer import Analyzer, builtin_synonyms


def test_a_forgotten_text_is_tokenised_again_to_the_same_units() -> None:
    analyzer = Analyzer([["送料", "配送料", "shipping cost"]])
    first = analyzer.word_units("送料はいくらですか")
    analyzer.word_units("送料はいくらですか")
    kept = analyzer._morphemes.cache_info()
    assert kept.hits >= 1

    analyzer.forget_texts()

    assert analyzer._morphemes.cache_info().currsize == 0
    assert analyzer.word_units("送料はいくらですか") == first
    assert analyzer._morphemes.cache_info().misses == 1


def test_a_thesaurus_phrase_still_joins_its_words_into_one_unit() -> None:
    analyzer = Analyzer([["代引き", "cash on delivery"]])
    assert analyzer.thesaurus.longest == max(len(p) for p in analyzer.thesaurus.phrases)
    concept = f"c:{len(builtin_synonyms())}"  # the group given above, after the built-in ones
    for _ in range(2):  # the longest phrase is counted once, then reused
        units = [unit for unit, _ in analyzer.word_units("Can I pay cash on delivery?")]
        assert any({"w:cash", "w:delivery", concept} <= unit for unit in units)

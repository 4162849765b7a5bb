"""SudachiPy's dictionary (about 75 MB, 0.3 s to build) is built once per process."""

from __future__ import annotations

from pathlib import Path

from bot.faq import FaqLibrary, MatchSettings
from bot.faq.analyzer import _dictionary

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_faq_again_reuses_the_dictionary(faq: FaqLibrary) -> None:
    built = _dictionary.cache_info().misses
    FaqLibrary(ROOT / "faq_data", MatchSettings())
    assert _dictionary.cache_info().misses == built <= 1

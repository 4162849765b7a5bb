"""The running FAQ: hot reload that never serves a broken FAQ."""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import time
import weakref
from pathlib import Path

import pytest

from bot.faq import FaqLibrary, FaqLoadError, Outcome
from tests.eventually import eventually

ROOT = Path(__file__).resolve().parent.parent
ONE = (
    "faqs:\n  - id: hours\n    question: 営業時間は？\n    answer: 10時から19時です。\n"
    "    tags: [top]\n"
)
TWO = ONE + "  - id: parking\n    question: 駐車場はありますか？\n    answer: 5台分あります。\n"


def test_first_load_failure_raises(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text("faqs: [", encoding="utf-8")
    with pytest.raises(FaqLoadError):
        FaqLibrary(tmp_path)


def test_entries_lookup_and_top_entries(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(TWO, encoding="utf-8")
    library = FaqLibrary(tmp_path)
    assert [e.id for e in library.entries] == ["hours", "parking"]
    assert library.entry("parking") is not None and library.entry("gone") is None
    assert [e.id for e in library.top_entries(3)] == ["hours"]  # tagged 'top' first
    sample = FaqLibrary(ROOT / "faq_data")
    assert len(sample.top_entries(4)) == 4


def test_invalid_change_keeps_last_good_faq(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "faq.yaml").write_text(ONE, encoding="utf-8")
    library = FaqLibrary(tmp_path)
    (tmp_path / "faq.yaml").write_text(ONE + "  - id: hours\n    question: x\n    answer: y\n")
    with caplog.at_level(logging.ERROR, logger="tsunagu.faq"):
        assert library.reload() is False
    assert "faq.yaml:6: faqs[1].id: duplicate id 'hours'" in caplog.text
    assert library.decide("営業時間を教えて").outcome is Outcome.ANSWER
    (tmp_path / "faq.yaml").write_text(TWO, encoding="utf-8")
    assert library.reload() is True
    assert library.decide("駐車場はありますか").best.entry.id == "parking"  # type: ignore[union-attr]


async def test_watch_picks_up_a_saved_change(tmp_path: Path) -> None:
    shutil.copy(ROOT / "faq_data" / "shop.yaml", tmp_path / "shop.yaml")
    library = FaqLibrary(tmp_path)
    stop = asyncio.Event()
    watcher = asyncio.create_task(library.watch(stop))
    extra = tmp_path / "extra.yml"
    saved_at = -1.0

    def save_until_picked_up() -> bool:
        # Saved again now and then: a save before the watcher started is not an event.
        nonlocal saved_at
        if library.entry("parking"):
            return True
        if time.monotonic() - saved_at > 1.0:
            extra.write_text(
                "faqs:\n  - id: parking\n    question: 駐車場はありますか？\n"
                "    answer: 5台分あります。\n",
                encoding="utf-8",
            )
            saved_at = time.monotonic()
        return False

    await eventually(save_until_picked_up, what="the watcher loads the saved file")
    stop.set()
    await asyncio.wait_for(watcher, timeout=5)
    assert library.entry("parking") is not None
    assert library.decide("駐車場ありますか？").best.entry.id == "parking"  # type: ignore[union-attr]


def test_a_repeated_message_is_decided_once_per_faq(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(ONE, encoding="utf-8")
    library = FaqLibrary(tmp_path)
    first = library.decide("駐車場はありますか")
    assert library.decide("駐車場はありますか") is first, "kept: the same decision"
    assert first.best is None or first.best.entry.id == "hours"
    # A reload brings another matcher: what the old one decided is not used with it.
    (tmp_path / "faq.yaml").write_text(TWO, encoding="utf-8")
    assert library.reload() is True
    assert library.decide("駐車場はありますか").best.entry.id == "parking"  # type: ignore[union-attr]
    long = "駐車場はありますか" + "。" * 300  # long messages are decided every time
    assert library.decide(long) is not library.decide(long)


def test_reloads_do_not_keep_previous_faqs_alive(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(TWO, encoding="utf-8")
    library = FaqLibrary(tmp_path)
    # A kept decision names its matcher: one the later matchers never overwrite.
    assert library.decide("営業時間は何時まで？").outcome is Outcome.ANSWER
    first = weakref.ref(library.matcher)
    # The analyzer sits in a reference cycle (its cache of tokenised texts refers back to
    # it): only a collection frees it, and a frozen one never is.
    first_analyzer = weakref.ref(library.index.analyzer)
    for _ in range(5):
        assert library.reload() is True
        assert library.decide("駐車場はありますか").outcome is Outcome.ANSWER
    # The heap is frozen after each load; a frozen previous FAQ would never be freed.
    gc.collect()
    assert first() is None and first_analyzer() is None
    assert library.decide("営業時間を教えて").best.entry.id == "hours"  # type: ignore[union-attr]

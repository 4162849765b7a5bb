"""A hostile FAQ file: refused with a clear problem, and the watcher keeps watching."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.faq import FaqLibrary
from bot.faq.commands import faq
from bot.faq.loader import load_faq_file

VALID = "faqs:\n  - id: hours\n    question: 営業時間は？\n    answer: 10時から19時です。\n"
PARKING = (
    VALID + "  - id: parking\n    question: 駐車場はありますか？\n    answer: 5台分あります。\n"
)
NESTED = "faqs: " + "[" * 3000 + "]" * 3000 + "\n"
NESTED_BLOCKS = "faqs:\n" + "".join("  " * depth + "- \n" for depth in range(1, 400))


@pytest.mark.parametrize("text", [NESTED, NESTED_BLOCKS], ids=["flow", "block"])
def test_a_deeply_nested_file_is_one_clear_problem(tmp_path: Path, text: str) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(text, encoding="utf-8")
    parsed, problems, _ = load_faq_file(path)
    assert parsed is None
    [problem] = problems
    assert "nested too deeply" in problem.message


def test_faq_check_reports_a_deeply_nested_file(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(NESTED, encoding="utf-8")
    result = CliRunner().invoke(faq, ["check", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "nested too deeply" in result.output


async def test_the_watcher_survives_a_nested_file_and_loads_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tsunagu.faq")
    path = tmp_path / "faq.yaml"
    path.write_text(VALID, encoding="utf-8")
    library = FaqLibrary(tmp_path)
    stop = asyncio.Event()
    watcher = asyncio.create_task(library.watch(stop))
    loop = asyncio.get_running_loop()
    try:
        # Keep saving the nested file until the watcher has seen it (or died on it).
        deadline = loop.time() + 10
        while "FAQ reload failed" not in caplog.text and not watcher.done():
            assert loop.time() < deadline, "the watcher never looked at the nested file"
            path.write_text(NESTED, encoding="utf-8")
            await asyncio.sleep(0.2)
        assert not watcher.done(), "the watcher died"
        assert library.entry("hours") is not None, "still serving the last good FAQ"
        path.write_text(PARKING, encoding="utf-8")
        deadline = loop.time() + 10
        while library.entry("parking") is None:
            assert loop.time() < deadline, "the fixed file was never loaded"
            path.write_text(PARKING, encoding="utf-8")
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)

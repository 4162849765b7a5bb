"""LINE's month and the cost card's rules, at instants where the zone decides the month."""

from __future__ import annotations

from datetime import datetime

import pytest

from channels.line.client import Quota
from channels.line.cost import MonthCounts, month_of, month_progress
from channels.line.panel import build_panel


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("instant", "month"),
    [
        ("2026-11-30T15:30:00+00:00", "2026-12"),  # 00:30 on 1 December in Tokyo
        ("2026-11-30T14:59:59+00:00", "2026-11"),
        ("2028-02-29T23:59:30+09:00", "2028-02"),
        ("2027-01-01T00:00:30+09:00", "2027-01"),
    ],
)
def test_the_month_is_lines_month_in_japan_time(instant: str, month: str) -> None:
    assert month_of(at(instant)) == month


def test_progress_through_a_leap_february() -> None:
    assert month_progress(at("2028-02-01T00:00:00+09:00")) == 0
    assert month_progress(at("2028-02-15T12:00:00+09:00")) == pytest.approx(14.5 / 29)


def test_the_card_warns_from_80_percent_and_projects_over_the_quota() -> None:
    counts = MonthCounts("2026-11", {"reply": {"answer": 30}, "push": {"agent": 10}})
    half = month_progress(at("2026-11-16T00:00:00+09:00"))
    panel = build_panel(
        counts, Quota(limit=200, used=160), budget=None, progress=half, chat_mode="bot"
    )
    figures = {f.name: f for f in panel.figures}
    assert figures["Pushes this month"].value == "160 / 200" and figures["Pushes this month"].warn
    assert figures["Free replies"].value == "75%"
    assert figures["Projected by month end"].value == "320"
    assert any("80% of this month's quota" in w for w in panel.warnings)
    assert any("over the quota" in w for w in panel.warnings)
    assert panel.notes and "既読" in panel.notes[0]


def test_without_lines_figures_the_card_uses_its_own_count() -> None:
    counts = MonthCounts("2026-11", {"push": {"agent": 3}})
    panel = build_panel(counts, None, budget=3, progress=0.5, chat_mode=None)
    figures = {f.name: f for f in panel.figures}
    assert figures["Pushes this month"].value == "3"
    assert figures["Push budget"].warn
    assert any("LINE_PUSH_BUDGET=3" in w for w in panel.warnings)
    assert any("could not be read" in n for n in panel.notes)

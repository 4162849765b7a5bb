"""Business hours: when agents are there to answer, in the shop's time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_span(text: str) -> tuple[dt.time, dt.time]:
    start, _, end = text.partition("-")
    try:
        opens = dt.time.fromisoformat(start.strip())
        closes = dt.time.fromisoformat(end.strip()) if end.strip() != "24:00" else dt.time.max
    except ValueError as exc:
        raise ValueError(f"business hours {text!r}: expected 'HH:MM-HH:MM'") from exc
    if closes <= opens:
        raise ValueError(f"business hours {text!r}: closing time must be after opening time")
    return opens, closes


@dataclass(frozen=True)
class BusinessHours:
    """Opening spans per weekday, and closed dates. No spans at all means always open."""

    spans: dict[int, tuple[dt.time, dt.time]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Tokyo"))

    @classmethod
    def parse(cls, week: dict[str, str | None], holidays: list[str], zone: str) -> BusinessHours:
        """From settings: `{"mon": "09:00-18:00", "sat": null}`, ISO dates, an IANA zone."""
        spans: dict[int, tuple[dt.time, dt.time]] = {}
        for day, span in week.items():
            key = day.strip().lower()[:3]
            if key not in WEEKDAYS:
                raise ValueError(f"business hours: unknown weekday {day!r}")
            if span:
                spans[WEEKDAYS.index(key)] = _parse_span(span)
        return cls(
            spans=spans,
            holidays=frozenset(dt.date.fromisoformat(d) for d in holidays),
            zone=ZoneInfo(zone),
        )

    @property
    def always_open(self) -> bool:
        """True when no hours are configured."""
        return not self.spans and not self.holidays

    def is_open(self, when: dt.datetime) -> bool:
        """Whether agents are working at `when` (any time zone)."""
        if self.always_open:
            return True
        local = when.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        span = self.spans.get(local.weekday())
        return span is not None and span[0] <= local.time() < span[1]

    def next_opening(self, when: dt.datetime) -> dt.datetime | None:
        """The next moment agents start working after `when`, in the shop's zone."""
        if self.always_open or not self.spans:
            return None
        local = when.astimezone(self.zone)
        for offset in range(0, 370):
            day = local.date() + dt.timedelta(days=offset)
            span = self.spans.get(day.weekday())
            if span is None or day in self.holidays:
                continue
            opening = dt.datetime.combine(day, span[0], tzinfo=self.zone)
            if opening > local:
                return opening
        return None

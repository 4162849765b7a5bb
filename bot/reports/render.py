"""The report as text for a terminal and as CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from bot.panels import Panel
from bot.records import SurveyResponse
from bot.reports.model import CES_HIGH, CES_LOW, Durations, Report, Segment

SEGMENT_COLUMNS = [
    "section", "key", "label", "conversations", "resolved_by_bot", "handed_off", "abandoned",
    "surveys_asked", "surveys_answered", "response_rate", "ces_responses", "ces_mean",
    "ces_easy_share", *(f"ces_{s}" for s in range(CES_LOW, CES_HIGH + 1)), "deflection_rate",
    "handoff_rate", "wait_median_s", "wait_p90_s", "first_response_median_s",
    "first_response_p90_s", "handle_median_s", "handle_p90_s",
]  # fmt: skip
RESPONSE_COLUMNS = [
    "time", "conversation_id", "channel", "question", "score", "resolved_by", "faq_ids",
    "wait_seconds", "handle_seconds", "comment",
]  # fmt: skip


def report_csv(report: Report) -> str:
    """One row per segment (overall, channel, path, agent, FAQ entry) and per day."""
    rows: list[list[object]] = [_segment_row("overall", report.overall)]
    for section, segments in (
        ("channel", report.by_channel),
        ("path", report.by_path),
        ("agent", report.by_agent),
        ("faq", report.by_faq),
    ):
        rows += [_segment_row(section, s) for s in segments]
    for p in report.trend:
        row: dict[str, object] = {
            "section": "day",
            "key": p.day.isoformat(),
            "label": p.day.strftime("%a"),
            "conversations": p.conversations,
            "ces_responses": p.responses,
            "ces_mean": p.mean,
            "ces_easy_share": p.easy_share,
        }
        rows.append([row.get(c) for c in SEGMENT_COLUMNS])
    return csv_text(SEGMENT_COLUMNS, rows)


def responses_csv(responses: Iterable[SurveyResponse], tz: tzinfo) -> str:
    """Every survey answer, one per row, for keeping or for a spreadsheet."""
    rows = [
        [
            datetime.fromtimestamp(r.time, tz).isoformat(timespec="seconds"),
            r.conversation_id,
            r.channel,
            r.question,
            r.score,
            r.resolved_by,
            " ".join(r.faq_ids),
            _num(r.wait_seconds),
            _num(r.handle_seconds),
            r.comment or "",
        ]
        for r in responses
    ]
    return csv_text(RESPONSE_COLUMNS, rows)


def report_text(report: Report) -> str:
    """The report for a terminal: the headline figures, then each breakdown as a table."""
    p, o = report.period, report.overall
    until = p.until.strftime("%Y-%m-%d %H:%M")
    lines = [
        f"Tsunagu report  {p.since:%Y-%m-%d %H:%M} to {until} ({p.timezone})",
        "",
        f"Conversations      {o.conversations}  (bot only {o.resolved_by_bot}, handed off "
        f"{o.handed_off}, of which nobody took {o.abandoned})",
        f"Customers          {o.customers}  (a customer linked across channels counts once)",
        f"Deflection rate    {_pct(o.deflection_rate)}   resolved without a person",
        f"Handoff rate       {_pct(o.handoff_rate)}",
        f"CES                {_mean(o.ces.mean)} of 7   easy (5-7) {_pct(o.ces.easy_share)}   "
        f"{o.ces.responses} answers",
        f"Response rate      {_pct(o.response_rate)}   "
        f"({o.surveys_answered} of {o.surveys_asked} asked)",
        f"Wait for a person  {_dur(o.wait)}",
        f"First response     {_dur(o.first_response)}",
        f"Handle time        {_dur(o.handle)}",
        "CES distribution   "
        + "  ".join(f"{s}:{n}" for s, n in sorted(o.ces.distribution.items())),
    ]
    if report.csat:
        c = report.csat
        lines.append(
            f"CSAT               {_mean(c.mean)} of 5   satisfied (4-5) "
            f"{_pct(c.satisfied_share)}   {c.responses} answers"
        )
    if report.nps:
        n = report.nps
        lines.append(
            f"NPS                {n.nps:+.0f}   promoters {_pct(n.promoters_share)}, detractors "
            f"{_pct(n.detractors_share)}   {n.responses} answers"
            if n.nps is not None
            else "NPS                -"
        )
    for title, segments in (
        ("By channel", report.by_channel),
        ("By resolution path", report.by_path),
        ("By agent", report.by_agent),
        ("By FAQ entry", report.by_faq),
    ):
        lines += ["", title, *_table(segments)]
    if report.faq_to_rewrite:
        lines += ["", "Answers to rewrite (lowest CES, at least 3 answers)"]
        for f in report.faq_to_rewrite:
            lines.append(f"  {f.mean:.1f}  {f.faq_id}  {f.question}  ({f.responses} answers)")
            lines += [f'        {c.score}: "{c.comment}"' for c in f.comments]
    if report.unanswered:
        lines += ["", f"Questions the FAQ could not answer ({report.unanswered_total} messages)"]
        for g in report.unanswered:
            near = f"  nearest entry: {g.best_faq_id}" if g.best_faq_id else ""
            lines.append(f"  {g.count:>4}x  {g.text}  (last {g.last_seen:%m-%d %H:%M}){near}")
            lines += [f"         also: {v}" for v in g.variants]
    if report.faq_proposals and report.faq_proposals.waiting:
        waiting = report.faq_proposals
        lines += [
            "",
            f"FAQ proposals waiting: {waiting.waiting} ({waiting.alternatives} new phrasings, "
            f"{waiting.rejected} often rejected answers, {waiting.drafts} new entry drafts): "
            f"{waiting.command}",
        ]
    if report.agent_suggestions:
        s = report.agent_suggestions
        lines += [
            "",
            f"Agents answering from the FAQ: {_pct(s.from_faq_share)} of {s.replies} replies "
            f"({s.used} as suggested, {s.edited} edited, {s.ignored} ignored)",
        ]
        lines += [f"  {e.used:>4} + {e.edited:<4} {e.faq_id}  {e.question}" for e in s.entries]
        lines += [f"  {_pct(a.from_faq_share):>4} of {a.replies:<4} {a.name}" for a in s.agents]
    if report.help_center:
        h = report.help_center
        lines += [
            "",
            f"Help center: {h.views} views, {h.searches} searches ({h.searches_without_result} "
            f"with no result), {h.feedback} reader answers, {_pct(h.helpful_share)} helped",
        ]
        for e in h.entries:
            lines.append(
                f"  {e.views:>5} views  {_pct(e.helpful_share):>4} helped ({e.helpful}/"
                f"{e.helpful + e.not_helpful})  CES {_mean(e.ces_mean)}  {e.faq_id}"
            )
            lines += [f'        "{c.comment}"' for c in e.comments]
    for panel in report.panels:
        lines += ["", *panel_lines(panel)]
    return "\n".join(lines) + "\n"


def panel_lines(panel: Panel) -> list[str]:
    """A channel's panel as text: its figures, then warnings and notes."""
    width = max((_width(f.name) for f in panel.figures), default=0)
    lines = [panel.title]
    for f in panel.figures:
        mark = "  !" if f.warn else ""
        detail = f"   {f.detail}" if f.detail else ""
        lines.append(f"  {_fit(f.name, width)}  {f.value}{detail}{mark}")
    lines += [f"  warning: {w}" for w in panel.warnings]
    lines += [f"  note: {n}" for n in panel.notes]
    return lines


def _table(segments: Sequence[Segment]) -> list[str]:
    if not segments:
        return ["  (none)"]
    width = min(max(_width(s.label) for s in segments), 40)
    head = f"  {'':<{width}}  convs   CES  easy  answers  resp.  deflect  wait med/p90"
    out = [head]
    for s in segments:
        out.append(
            f"  {_fit(s.label, width)}  {s.conversations:>5}  {_mean(s.ces.mean):>4}  "
            f"{_pct(s.ces.easy_share):>4}  {s.ces.responses:>7}  {_pct(s.response_rate):>5}  "
            f"{_pct(s.deflection_rate):>7}  {_dur(s.wait)}"
        )
    return out


def _width(text: str) -> int:
    """Columns a text takes in a terminal: Japanese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """`text` cut or padded to exactly `width` terminal columns."""
    if _width(text) > width:
        while _width(text + "…") > width:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _segment_row(section: str, s: Segment) -> list[object]:
    values: list[object] = [
        section, s.key, s.label, s.conversations, s.resolved_by_bot, s.handed_off, s.abandoned,
        s.surveys_asked, s.surveys_answered, s.response_rate, s.ces.responses, s.ces.mean,
        s.ces.easy_share, *(s.ces.distribution.get(i, 0) for i in range(CES_LOW, CES_HIGH + 1)),
        s.deflection_rate, s.handoff_rate, s.wait.median, s.wait.p90, s.first_response.median,
        s.first_response.p90, s.handle.median, s.handle.p90,
    ]  # fmt: skip
    return values


# C0, DEL and C1 control characters other than tab, line feed and carriage return.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV file: formula-looking cells neutralised (`_cell`), and a cell with a line
    break of any kind (a bare carriage return too) quoted, as RFC 4180 asks."""
    out = io.StringIO()
    # With CRLF as the line end, the writer quotes a cell holding either character.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return out.getvalue()


def _cell(value: object) -> object:
    """A cell as written: control characters other than tab and line breaks dropped (a
    NUL ends a cell for many readers, and could hide a formula's `=` behind it), then a
    text a spreadsheet could read as a formula gets a leading `'`."""
    if not isinstance(value, str):
        return value
    text = _CONTROLS.sub("", value)
    return "'" + text if _reads_as_formula(text) else text


def _reads_as_formula(text: str) -> bool:
    """Customers write comments. Spreadsheets skip a byte-order mark, invisible characters
    and spaces before a formula, and some take a full-width ＝ for =: so the first visible
    character is looked at, as NFKC normalises it."""
    if text[:1] in ("\t", "\r"):
        return True
    visible = "".join(ch for ch in text[:16] if unicodedata.category(ch) != "Cf").lstrip()
    return unicodedata.normalize("NFKC", visible[:1]) in ("=", "+", "-", "@")


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _dur(d: Durations) -> str:
    if d.median is None or d.p90 is None:
        return "-"
    return f"{_seconds(d.median)} / {_seconds(d.p90)}"


def _seconds(value: float) -> str:
    if value < 90:
        return f"{value:.0f}s"
    return f"{value / 60:.1f}m"

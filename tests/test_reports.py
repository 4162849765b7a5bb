"""Reports: figures hand-checked on a known set of records, the CLI, /admin and demo data."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner, Result
from fastapi import FastAPI, Header, HTTPException

from bot.clock import FixedClock, now_in
from bot.composition.cli import main
from bot.faq import FaqLibrary
from bot.records import ConversationRecord, RecordStore, SurveyResponse, UnansweredMessage
from bot.reports.admin import build_admin_router
from bot.reports.commands import report
from bot.reports.compute import compute_report, percentile, period_between, period_for_days
from bot.reports.seed import StoreNotEmpty, seed_demo
from bot.reports.source import report_from_store
from bot.storage import Keys
from channels.registry import channel_catalog
from tests.conftest import REDIS_URL, ROOT

DEMO_CHANNELS = channel_catalog().names

ADMIN_TOKEN = "admin-secret"
# /admin reads the records' clock: the last evening of a month, in Tokyo.
ADMIN_CLOCK = FixedClock(datetime(2027, 4, 30, 23, 59, 30, tzinfo=ZoneInfo("Asia/Tokyo")))
PERIOD = period_between(date(2024, 5, 1), date(2024, 5, 3), tz=UTC)


def at(day: int, hour: int, minute: int = 0) -> float:
    """Epoch seconds of a time in May 2024, UTC."""
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC).timestamp()


def conv(cid: str, channel: str, ended: float, resolution: str, **kw: Any) -> ConversationRecord:
    return ConversationRecord(
        conversation_id=cid,
        customer_key=f"{channel}:{cid}",
        channel=channel,
        started_at=ended - 300,
        ended_at=ended,
        resolution=resolution,  # type: ignore[arg-type]
        handed_off=resolution != "bot",
        **kw,
    )


def ces(cid: str, channel: str, t: float, score: int, by: str = "bot", **kw: Any) -> SurveyResponse:
    return SurveyResponse(
        conversation_id=cid,
        customer_key=f"{channel}:{cid}",
        channel=channel,
        score=score,
        resolved_by=by,
        time=t,
        **kw,
    )


CONVERSATIONS = [
    # Before the period: must not count.
    conv("c0", "web", at(1, 0) - 3600, "bot", survey="answered", faq_answered=["shipping-fee"]),
    conv("c1", "web", at(1, 10), "bot", survey="answered", faq_answered=["shipping-fee"]),
    conv("c2", "web", at(1, 11), "bot", survey="answered",
         faq_answered=["shipping-fee", "tracking"]),
    conv("c3", "line", at(2, 9), "agent", agent="Sato", survey="answered",
         faq_answered=["tracking"], wait_seconds=60, first_response_seconds=90, handle_seconds=300),
    conv("c4", "line", at(2, 10), "agent", agent="Suzuki", survey="unanswered",
         wait_seconds=120, first_response_seconds=150, handle_seconds=600),
    conv("c5", "line", at(2, 11), "abandoned"),
    conv("c6", "slack", at(3, 9), "bot", survey="answered", faq_answered=["refund-timing"]),
    conv("c7", "slack", at(3, 10), "agent", agent="Sato", survey="answered",
         wait_seconds=30, first_response_seconds=45, handle_seconds=200),
    conv("c8", "web", at(3, 11), "bot", survey="unanswered", faq_answered=["refund-timing"]),
    conv("c9", "web", at(3, 12), "bot", survey="answered", faq_answered=["refund-timing"]),
    conv("c10", "line", at(3, 13), "bot", survey="answered", faq_answered=["refund-timing"]),
]  # fmt: skip
RESPONSES = [
    ces("c0", "web", at(1, 0) - 3000, 1, faq_ids=["shipping-fee"]),
    ces("c1", "web", at(1, 10, 5), 7, faq_ids=["shipping-fee"]),
    SurveyResponse(conversation_id="c1", customer_key="web:c1", channel="web",
                   question="csat", score=5, scale_low=1, scale_high=5, resolved_by="bot",
                   time=at(1, 10, 6)),
    SurveyResponse(conversation_id="c1", customer_key="web:c1", channel="web",
                   question="nps", score=10, scale_low=0, scale_high=10, resolved_by="bot",
                   time=at(1, 10, 7)),
    ces("c2", "web", at(1, 11, 5), 6, faq_ids=["shipping-fee", "tracking"]),
    SurveyResponse(conversation_id="c2", customer_key="web:c2", channel="web",
                   question="csat", score=3, scale_low=1, scale_high=5, resolved_by="bot",
                   time=at(1, 11, 6)),
    SurveyResponse(conversation_id="c2", customer_key="web:c2", channel="web",
                   question="nps", score=9, scale_low=0, scale_high=10, resolved_by="bot",
                   time=at(1, 11, 7)),
    ces("c3", "line", at(2, 9, 5), 5, by="Sato", faq_ids=["tracking"]),
    SurveyResponse(conversation_id="c3", customer_key="line:c3", channel="line",
                   question="nps", score=4, scale_low=0, scale_high=10, resolved_by="Sato",
                   time=at(2, 9, 7)),
    ces("c6", "slack", at(3, 9, 5), 2, faq_ids=["refund-timing"], comment="返金の時期が書いてない"),
    ces("c7", "slack", at(3, 10, 5), 4, by="Sato"),
    ces("c9", "web", at(3, 12, 5), 3, faq_ids=["refund-timing"], comment="=HYPERLINK(\"x\")"),
    ces("c10", "line", at(3, 13, 5), 1, faq_ids=["refund-timing"]),
]  # fmt: skip
UNANSWERED = [
    UnansweredMessage(text=text, channel=ch, conversation_id=cid, time=t,
                      best_faq_id=best, best_score=score)
    for text, ch, cid, t, best, score in [
        ("大阪に店舗はありますか？", "line", "c3", at(2, 8), "store-hours", 0.3),
        ("Do you have a store in Osaka?", "web", "c4", at(2, 9), "store-hours", 0.2),
        ("大阪にお店はありますか", "line", "c4", at(2, 9, 30), "store-hours", 0.4),
        ("こんにちは", "web", "c5", at(2, 10), None, None),
        ("名入れはできますか？", "slack", "c7", at(3, 9), None, None),
        ("Is there a shop in Osaka?", "slack", "c7", at(3, 9, 30), "store-hours", 0.3),
        ("大阪に店舗はありますか？", "web", "c8", at(3, 10), "store-hours", 0.2),
    ]
]  # fmt: skip


@pytest.fixture
async def store(redis_client: aioredis.Redis, key_prefix: str) -> RecordStore:
    """The known records, written through the real store (filed at their own times)."""
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=2000)
    for c in CONVERSATIONS:
        await records.add(c, at=c.ended_at)
    for r in RESPONSES:
        await records.add(r, at=r.time)
    for m in UNANSWERED:
        await records.add(m, at=m.time)
    return records


@pytest.fixture(scope="module")
def faq() -> FaqLibrary:
    return FaqLibrary(ROOT / "faq_data")


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([30, 60, 120], 0.5) == 60
    assert percentile([30, 60, 120], 0.9) == pytest.approx(108)
    assert percentile([5], 0.9) == 5
    assert percentile([], 0.5) is None


async def test_report_figures_match_the_hand_computed_ones(
    store: RecordStore, faq: FaqLibrary
) -> None:
    r = await report_from_store(store, faq, PERIOD)
    o = r.overall
    # c0 ended before the period; c1-c10 count.
    assert (o.conversations, o.resolved_by_bot, o.handed_off, o.abandoned) == (10, 6, 4, 1)
    assert o.deflection_rate == 0.6 and o.handoff_rate == 0.4
    assert (o.surveys_asked, o.surveys_answered) == (9, 7)  # c5 was not asked
    assert o.response_rate == pytest.approx(7 / 9, abs=1e-4)
    # CES 7, 6, 5, 2, 4, 3, 1
    assert o.ces.responses == 7 and o.ces.mean == 4.0
    assert o.ces.easy_share == pytest.approx(3 / 7, abs=1e-4)
    assert o.ces.distribution == dict.fromkeys(range(1, 8), 1)
    assert (o.wait.count, o.wait.median, o.wait.p90) == (3, 60, 108)
    assert (o.first_response.median, o.first_response.p90) == (90, 138)
    assert (o.handle.median, o.handle.p90) == (300, 540)

    assert r.csat is not None and (r.csat.responses, r.csat.mean) == (2, 4.0)
    assert r.csat.satisfied_share == 0.5
    assert r.nps is not None and r.nps.responses == 3 and r.nps.nps == pytest.approx(33.3)

    by_channel = {s.key: s for s in r.by_channel}
    assert [s.key for s in r.by_channel] == ["web", "line", "slack"]
    web, line, slack = by_channel["web"], by_channel["line"], by_channel["slack"]
    assert (web.conversations, web.deflection_rate, web.response_rate) == (4, 1.0, 0.75)
    assert web.ces.mean == pytest.approx(16 / 3, abs=1e-3)  # 7, 6, 3
    assert (line.conversations, line.deflection_rate, line.handoff_rate) == (4, 0.25, 0.75)
    assert line.response_rate == pytest.approx(2 / 3, abs=1e-4) and line.ces.mean == 3.0
    assert (line.wait.median, line.wait.p90) == (90, 114)
    assert (slack.conversations, slack.ces.mean, slack.response_rate) == (2, 3.0, 1.0)

    bot, handed = r.by_path
    assert (bot.key, bot.conversations, bot.ces.responses, bot.ces.mean) == ("bot", 6, 5, 3.8)
    assert (handed.key, handed.conversations, handed.ces.mean) == ("handed_off", 4, 4.5)

    # Records from before agents had ids group under a legacy id of their name.
    agents = {s.key: s for s in r.by_agent}
    assert (agents["legacy:Sato"].conversations, agents["legacy:Sato"].ces.mean) == (2, 4.5)
    assert agents["legacy:Sato"].label == "Sato"
    assert agents["legacy:Sato"].wait.median == 45
    assert agents["legacy:Suzuki"].ces.mean is None
    assert agents["legacy:Suzuki"].response_rate == 0.0

    entries = {s.key: s for s in r.by_faq}
    assert entries["shipping-fee"].ces.mean == 6.5 and entries["shipping-fee"].conversations == 2
    assert entries["tracking"].ces.mean == 5.5
    refund = entries["refund-timing"]
    assert (refund.conversations, refund.ces.responses, refund.ces.mean) == (4, 3, 2.0)
    assert refund.label == "返金はいつになりますか？" and refund.response_rate == 0.75

    # Only refund-timing has 3 answers or more and a mean below 5.
    assert [f.faq_id for f in r.faq_to_rewrite] == ["refund-timing"]
    assert [c.comment for c in r.faq_to_rewrite[0].comments] == [
        '=HYPERLINK("x")',
        "返金の時期が書いてない",
    ]

    assert [(p.day.day, p.conversations, p.responses, p.mean) for p in r.trend] == [
        (1, 2, 2, 6.5),
        (2, 3, 1, 5.0),
        (3, 5, 4, 2.5),
    ]

    assert r.unanswered_total == 7
    groups = [(g.count, g.text, g.variants) for g in r.unanswered]
    # 店舗 / お店 / store / shop are one concept of the thesaurus, so the languages meet;
    # variants come most frequent first, then most recent.
    assert groups == [
        (
            5,
            "大阪に店舗はありますか？",
            [
                "Is there a shop in Osaka?",
                "大阪にお店はありますか",
                "Do you have a store in Osaka?",
            ],
        ),
        (1, "名入れはできますか？", []),
    ]  # the bare greeting says nothing and is left out
    osaka = r.unanswered[0]
    assert osaka.best_faq_id == "store-hours" and osaka.best_score == pytest.approx(0.28)
    assert osaka.channels == {"line": 2, "web": 2, "slack": 1}
    assert osaka.last_seen == datetime.fromtimestamp(at(3, 10), UTC)


def _cli_env(key_prefix: str) -> dict[str, str]:
    return {
        "REDIS_URL": REDIS_URL,
        "KEY_PREFIX": key_prefix,
        "FAQ_DIR": str(ROOT / "faq_data"),
        "TZ": "UTC",
    }


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reports in local time; make local time UTC for these tests."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def test_agents_are_reported_by_id_under_their_latest_name() -> None:
    # Two different people called 佐藤, and one of them renamed themselves later.
    records = [
        conv("s1", "web", at(1, 10), "agent", agent="佐藤", agent_id="slack:U1", survey="answered"),
        conv("s2", "web", at(2, 10), "agent", agent="佐藤", agent_id="slack:U2"),
        conv("s3", "web", at(3, 10), "agent", agent="佐藤 花子", agent_id="slack:U1"),
    ]
    answers = [ces("s1", "web", at(1, 11), 6, by="佐藤", agent_id="slack:U1")]
    r = compute_report(records, answers, [], PERIOD)
    rows = {s.key: s for s in r.by_agent}
    assert set(rows) == {"slack:U1", "slack:U2"}, "same name, two agents"
    assert (rows["slack:U1"].label, rows["slack:U1"].conversations) == ("佐藤 花子", 2)
    assert rows["slack:U1"].ces.mean == 6
    assert (rows["slack:U2"].label, rows["slack:U2"].conversations) == ("佐藤", 1)
    assert rows["slack:U2"].ces.responses == 0, "the other 佐藤's score is not theirs"


async def test_cli_report_json_and_csv(store: RecordStore, key_prefix: str, utc: None) -> None:
    period = ["--since", "2024-05-01", "--until", "2024-05-03"]

    async def invoke(*args: str) -> Result:
        # The command runs its own event loop: give it a thread of its own.
        return await asyncio.to_thread(
            CliRunner().invoke, report, [*period, *args], env=_cli_env(key_prefix)
        )

    out = await invoke("--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["overall"]["conversations"] == 10
    assert data["overall"]["ces"]["mean"] == 4.0
    assert data["overall"]["deflection_rate"] == 0.6
    assert data["period"]["since"].startswith("2024-05-01T00:00:00")

    out = await invoke("--format", "csv")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    overall = rows[0]
    assert (overall["section"], overall["conversations"], overall["ces_mean"]) == (
        "overall",
        "10",
        "4.0",
    )
    assert (overall["wait_median_s"], overall["wait_p90_s"]) == ("60.0", "108.0")
    refund = next(r for r in rows if r["section"] == "faq" and r["key"] == "refund-timing")
    assert (refund["ces_responses"], refund["ces_mean"], refund["ces_1"]) == ("3", "2.0", "1")
    days = [(r["key"], r["ces_mean"]) for r in rows if r["section"] == "day"]
    assert days == [("2024-05-01", "6.5"), ("2024-05-02", "5.0"), ("2024-05-03", "2.5")]

    out = await invoke()
    assert out.exit_code == 0 and "Deflection rate    60%" in out.output


def test_cli_refuses_without_redis_url() -> None:
    runner = CliRunner()
    for args in (["report"], ["demo", "seed"]):
        out = runner.invoke(main, args, env={"REDIS_URL": ""})
        assert out.exit_code != 0
        assert "REDIS_URL is not set" in out.output and "/admin" in out.output


def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
    """The simplest stand-in for the console's admin-token check."""
    if authorization != f"Bearer {ADMIN_TOKEN}":
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})


@pytest.fixture
async def admin(
    redis_client: aioredis.Redis, key_prefix: str, faq: FaqLibrary
) -> AsyncIterator[tuple[httpx.AsyncClient, RecordStore, int]]:
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=400, clock=ADMIN_CLOCK)
    count = await seed_demo(records, channels=DEMO_CHANNELS, days=3, seed=1)
    app = FastAPI()
    app.include_router(build_admin_router(records, faq, require_admin))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
        yield client, records, count


async def test_admin_api_needs_the_token(admin: tuple[httpx.AsyncClient, RecordStore, int]) -> None:
    client, _, _ = admin
    for path in ("/admin/api/report?days=7", "/admin/api/export.csv"):
        assert (await client.get(path)).status_code == 401
        wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401


async def test_admin_page_is_a_shell_without_data(
    admin: tuple[httpx.AsyncClient, RecordStore, int],
) -> None:
    client, _, _ = admin
    page = await client.get("/admin")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/admin/api/report" in page.text and "Authorization" in page.text
    assert "Sato" not in page.text  # the figures come only through the API
    csp = page.headers["content-security-policy"]
    assert "'sha256-" in csp and "unsafe-inline" not in csp
    assert "http" not in page.text.replace("http://www.w3.org/2000/svg", "")  # no CDN


async def test_admin_serves_report_and_export_with_the_token(
    admin: tuple[httpx.AsyncClient, RecordStore, int],
) -> None:
    client, records, count = admin
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    res = await client.get("/admin/api/report?days=7", headers=auth)
    assert res.status_code == 200
    data = res.json()
    assert 0 < data["overall"]["conversations"] <= count
    assert len(data["trend"]) == 7
    assert {s["key"] for s in data["by_channel"]} <= set(DEMO_CHANNELS)
    assert (await client.get("/admin/api/report?days=0", headers=auth)).status_code == 422

    await records.add(ces("late", "web", records.clock.now() - 1, 2, comment="=1+1"))
    res = await client.get("/admin/api/export.csv?days=7", headers=auth)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text.lstrip("\ufeff"))))
    assert rows[-1]["conversation_id"] == "late" and rows[-1]["comment"] == "'=1+1"
    assert all(r["question"] == "ces" for r in rows)


async def test_demo_seed_fills_every_part_of_the_dashboard(
    redis_client: aioredis.Redis, key_prefix: str, faq: FaqLibrary
) -> None:
    # Just before midnight: a seed of "30 days back from now" and a report from midnight 29
    # days back disagreed by the conversations of those last minutes.
    clock = FixedClock(datetime(2026, 11, 30, 23, 59, 30, tzinfo=ZoneInfo("Asia/Tokyo")))
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=400, clock=clock)
    count = await seed_demo(
        records, channels=DEMO_CHANNELS, days=30, seed=0, tz=ZoneInfo("Asia/Tokyo")
    )
    assert count > 300
    tokyo = ZoneInfo("Asia/Tokyo")
    period = period_for_days(30, now=now_in(clock, tokyo), tz=tokyo)
    r = await report_from_store(records, faq, period)
    assert r.overall.conversations == count
    assert {s.key for s in r.by_channel} == set(DEMO_CHANNELS)
    assert {(s.key, s.label) for s in r.by_agent} == {
        ("console:Sato", "Sato"),
        ("console:Suzuki", "Suzuki"),
        ("console:Tanaka", "Tanaka"),
    }
    assert {s.key for s in r.by_path} == {"bot", "handed_off"}
    assert 0.5 < (r.overall.deflection_rate or 0) < 0.8
    assert [f.faq_id for f in r.faq_to_rewrite][:2] == ["refund-timing", "cancel-order"]
    assert r.unanswered[0].count >= 5 and len(r.unanswered[0].variants) >= 1
    assert any("Osaka" in g.text or "大阪" in g.text for g in r.unanswered[:4])
    assert sum(p.responses for p in r.trend) == r.overall.ces.responses
    with pytest.raises(StoreNotEmpty):
        await seed_demo(records, channels=DEMO_CHANNELS, days=30, seed=0)

"""/admin: the report as a page with charts, its JSON, and the survey answers as CSV."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from bot.clock import now_in
from bot.faq import FaqLibrary
from bot.faq.proposal import render_proposal
from bot.records import RecordStore, SurveyResponse
from bot.reports.compute import local_timezone, period_for_days
from bot.reports.model import Period, Report
from bot.reports.render import responses_csv
from bot.reports.source import ViewCounts, learn_from_store, report_from_store

STATIC = resources.files("bot.reports").joinpath("static")
MAX_DAYS = 400
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="The last N days, today included.")]


@cache
def _page() -> tuple[str, dict[str, str]]:
    """The page and its headers: only the page's own inline script and style may run."""
    html = STATIC.joinpath("admin.html").read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
            for b in bodies
        )

    headers = {
        "Content-Security-Policy": f"default-src 'none'; script-src {hashes('script')}; "
        f"style-src {hashes('style')}; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }
    return html, headers


def build_admin_router(
    records: RecordStore,
    faq: FaqLibrary,
    require_admin: Callable[..., Any],
    *,
    help_store: ViewCounts | None = None,
) -> APIRouter:
    """Routes of /admin. The page holds no data; everything under /admin/api needs the token.

    `require_admin` is a FastAPI dependency that refuses requests without the admin token;
    `help_store` (when the help center is on) adds its section to the report.
    """
    router = APIRouter(prefix="/admin", tags=["reports"])
    api = APIRouter(prefix="/api", dependencies=[Depends(require_admin)])

    @api.get("/report", response_model=Report)
    async def report_json(days: Days = 7) -> Report:
        """The report of the last `days` days (what the page draws)."""
        return await report_from_store(
            records, faq, _last_days(records, days), help_views=help_store
        )

    @api.get("/export.csv", response_class=Response)
    async def export_csv(days: Days = 30) -> Response:
        """Every survey answer of the last `days` days, one per row."""
        period = _last_days(records, days)
        tz = period.since.tzinfo or local_timezone()
        answers = [
            r
            async for r in records.read(
                SurveyResponse, period.since.timestamp(), period.until.timestamp()
            )
        ]
        name = f"tsunagu-surveys-{now_in(records.clock, tz):%Y%m%d}-{days}d.csv"
        return Response(
            # A byte-order mark lets spreadsheet programs read the Japanese as UTF-8.
            "\ufeff" + responses_csv(answers, tz),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    @api.get("/faq-proposal.yaml", response_class=Response)
    async def faq_proposal(days: Days = 30) -> Response:
        """What `tsunagu faq learn --days N` would write, as the file to review and apply."""
        proposal = await learn_from_store(records, faq, _last_days(records, days))
        tz = (proposal.until.tzinfo if proposal.until else None) or local_timezone()
        name = f"faq_proposal-{now_in(records.clock, tz):%Y%m%d}-{days}d.yaml"
        return Response(
            render_proposal(proposal, name),
            media_type="application/yaml; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    async def page() -> HTMLResponse:
        html, headers = _page()
        return HTMLResponse(html, headers=headers)

    router.include_router(api)
    router.add_api_route("", page, include_in_schema=False)
    router.add_api_route("/", page, include_in_schema=False)
    return router


def _last_days(records: RecordStore, days: int) -> Period:
    """The last `days` calendar days up to the records' clock, in this process's zone."""
    tz = local_timezone()
    return period_for_days(days, now=now_in(records.clock, tz), tz=tz)

"""/admin: the report as a page with charts, its JSON, and the survey answers as CSV."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from bot.archive import (
    CSV_COLUMNS,
    ArchivedConversation,
    ConversationArchive,
    ConversationQuery,
    Outcome,
    conversations_rows,
    query_between,
)
from bot.clock import now_in
from bot.faq import FaqLibrary
from bot.faq.proposal import render_proposal
from bot.ports import PanelSource
from bot.privacy.audit import ADMIN_TOKEN, Action, AuditLog
from bot.records import RecordStore, SurveyResponse
from bot.reports.compute import local_timezone, open_ended, period_for_days
from bot.reports.model import Period, Report
from bot.reports.render import csv_text, responses_csv
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
    archive: ConversationArchive | None = None,
    panels: Sequence[PanelSource] = (),
    audit: AuditLog | None = None,
    channel_labels: Mapping[str, str] | None = None,
) -> APIRouter:
    """Routes of /admin. The page holds no data; everything under /admin/api needs the token.

    `require_admin` is a FastAPI dependency that refuses requests without the admin token;
    `help_store` (when the help center is on) adds its section to the report, `panels` the
    configured channels' cards (LINE's message cost); `audit` records each look at and
    download of customers' data; `channel_labels` name the channels (from the channel
    registry).
    """

    async def exported(what: str) -> None:
        if audit is not None:
            await audit.write(ADMIN_TOKEN, "export", what)

    router = APIRouter(prefix="/admin", tags=["reports"])
    api = APIRouter(prefix="/api", dependencies=[Depends(require_admin)])

    @api.get("/report", response_model=Report)
    async def report_json(days: Days = 7) -> Report:
        """The report of the last `days` days (what the page draws)."""
        return await report_from_store(
            records,
            faq,
            _last_days(records, days),
            help_views=help_store,
            panels=panels,
            channel_labels=channel_labels,
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
        await exported(f"/admin download {name}: survey answers with customers' comments")
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
        await exported(f"/admin download {name}: customers' phrasings")
        return Response(
            render_proposal(proposal, name),
            media_type="application/yaml; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    if archive is not None:
        _conversation_routes(api, archive, records, audit, dict(channel_labels or {}))

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


class ConversationList(BaseModel):
    """Conversations found by a search, newest first, and how to name their channels."""

    conversations: list[ArchivedConversation]
    channels: dict[str, str] = Field(
        default_factory=dict, description="Each channel's label, by its key (`line`: `LINE`)."
    )


def query_of(
    text: Annotated[str | None, Query(max_length=200, description="Words said in it.")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    since: Annotated[date | None, Query(description="Started on or after (YYYY-MM-DD).")] = None,
    until: Annotated[date | None, Query(description="Started on or before (YYYY-MM-DD).")] = None,
    ces_min: Annotated[int | None, Query(ge=1, le=7)] = None,
    ces_max: Annotated[int | None, Query(ge=1, le=7)] = None,
    agent: Annotated[str | None, Query(max_length=100, description="Agent id or name.")] = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ConversationQuery:
    """The search's filters from the query string; dates are days in this process's zone."""
    return query_between(
        since=since,
        until=open_ended(until),
        tz=local_timezone(),
        text=text,
        channel=channel,
        ces_min=ces_min,
        ces_max=ces_max,
        agent=agent,
        outcome=outcome,
        limit=limit,
    )


# At module level: FastAPI resolves the (string) annotations in this module's namespace.
Search = Annotated[ConversationQuery, Depends(query_of)]


def _csv_download(items: list[ArchivedConversation], name: str) -> Response:
    body = "\ufeff" + csv_text(CSV_COLUMNS, conversations_rows(items, local_timezone()))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _conversation_routes(
    api: APIRouter,
    archive: ConversationArchive,
    records: RecordStore,
    audit: AuditLog | None,
    labels: dict[str, str],
) -> None:
    """/admin/api/conversations: search, one conversation, and both as JSON or CSV;
    `labels` name the channels (from the channel registry) for the page.

    Each is a look at (or a download of) customers' own words: written to `audit`."""

    async def audited(action: Action, what: str, items: list[ArchivedConversation]) -> None:
        if audit is None:
            return
        for item in items:
            await audit.write(
                ADMIN_TOKEN,
                action,
                what,
                customer_key=item.customer_key,
                conversation_id=item.conversation_id,
            )

    @api.get("/conversations", response_model=ConversationList)
    async def conversations(query: Search) -> ConversationList:
        """Conversations by text, channel, dates, CES score, agent and outcome."""
        found = await archive.search(query)
        await audited("view", "/admin conversation search", found)
        return ConversationList(conversations=found, channels=labels)

    @api.get("/conversations.csv", response_class=Response)
    async def conversations_csv(query: Search) -> Response:
        """The same search as CSV: one row per transcript line."""
        found = await archive.search(query)
        stamp = now_in(records.clock, local_timezone())
        name = f"tsunagu-conversations-{stamp:%Y%m%d-%H%M}.csv"
        await audited("export", f"/admin download {name}: transcripts", found)
        return _csv_download(found, name)

    async def one(conversation_id: str) -> ArchivedConversation:
        item = await archive.get(conversation_id)
        if item is None:
            raise HTTPException(404, "no such conversation (or past retention)")
        return item

    @api.get("/conversations/{conversation_id}.csv", response_class=Response)
    async def conversation_csv(conversation_id: str) -> Response:
        """One conversation's transcript as CSV."""
        item = await one(conversation_id)
        name = f"tsunagu-conversation-{item.conversation_id}.csv"
        await audited("export", f"/admin download {name}: transcript", [item])
        return _csv_download([item], name)

    @api.get("/conversations/{conversation_id}", response_model=ArchivedConversation)
    async def conversation(conversation_id: str) -> ArchivedConversation:
        """One conversation across channels: transcript, FAQ tried, handoff, survey."""
        item = await one(conversation_id)
        await audited("view", "/admin conversation", [item])
        return item

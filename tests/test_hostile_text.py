"""Text an attacker controls, in places where it could become something else: the agent
name header and spreadsheet cells."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from typing import Any

import httpx
import pytest

from bot.records import SurveyResponse
from bot.reports.render import responses_csv
from bot.settings import Settings
from handoff.console.auth import BadName, clean_name
from tests.conftest import RunningApp

ADMIN = "hostile-text-admin-token"


@pytest.mark.parametrize(
    "raw",
    ["%zz", "Sato%", "Sato%4", "%E3%81", "%FF%FE", "%C0%AF", "Sato%2"],
    ids=["not-hex", "truncated", "half", "cut-utf8", "not-utf8", "overlong", "half-end"],
)
def test_an_agent_name_that_is_not_valid_percent_encoded_utf8_is_refused(raw: str) -> None:
    with pytest.raises(BadName, match="percent-encoded UTF-8"):
        clean_name(raw)


def test_valid_agent_names_still_decode() -> None:
    assert clean_name("%E4%BD%90%E8%97%A4") == "佐藤"
    assert clean_name("Sato 100%25") == "Sato 100%"
    assert clean_name("Suzuki") == "Suzuki"


@pytest.fixture
async def http(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    running: RunningApp = await serve_app(make_settings(admin_token=ADMIN))
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        yield client


async def test_the_console_answers_400_to_a_badly_encoded_agent_name(
    http: httpx.AsyncClient,
) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    bad = await http.get("/agent/api/me", headers={**auth, "X-Agent-Name": "Sato%E3%81"})
    assert bad.status_code == 400 and "percent-encoded UTF-8" in bad.json()["detail"]
    good = await http.get("/agent/api/me", headers={**auth, "X-Agent-Name": "%E4%BD%90%E8%97%A4"})
    assert good.status_code == 200 and "佐藤" in good.text


FORMULAS = [
    "=1+1",
    '＝HYPERLINK("http://evil")',  # full-width equals sign
    "\ufeff=1+1",  # a byte-order mark first
    "\u200b=1+1",  # a zero-width space first
    " =1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    "\t=1",
]


def test_spreadsheet_formulas_are_neutralised_whatever_comes_first() -> None:
    responses = [
        SurveyResponse(
            conversation_id=f"c{n}",
            customer_key="web:w_x",
            channel="web",
            score=1,
            comment=comment,
            resolved_by="bot",
        )
        for n, comment in enumerate([*FORMULAS, "普通のコメント", "1+1=2"])
    ]
    rows = list(csv.reader(io.StringIO(responses_csv(responses, UTC))))[1:]
    comments = [row[-1] for row in rows]
    for comment in comments[: len(FORMULAS)]:
        assert comment.startswith("'"), comment
    assert comments[len(FORMULAS) :] == ["普通のコメント", "1+1=2"], "plain text untouched"

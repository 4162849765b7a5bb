"""Personal data through the real app: masked on its way to Slack, the reports and the log;
the original only for the agent holding the conversation, and that view, exports and
erasures in the audit log (`tsunagu audit`)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from slack_sdk.web.async_client import AsyncWebClient

from bot.actor import Actor
from bot.clock import FixedClock
from bot.composition.cli import main
from bot.logs import JsonFormatter, TextFormatter
from bot.privacy.audit import AuditLog
from bot.privacy.cli import audit
from bot.privacy.logs import MaskPersonalData
from bot.records import RecordStore, SurveyResponse, UnansweredMessage
from bot.settings import Settings, get_settings
from bot.storage import Keys
from channels.slack.blocks import CLAIM
from channels.slack.masking import MaskingWebClient, desk_client, masked_texts
from tests.conftest import REDIS_URL, RunningApp
from tests.eventually import eventually
from tests.fakes.line_platform import LineWorld
from tests.fakes.slack_platform import (
    ApiCall,
    FakeSlack,
    escalations,
    line_world_with_slack,
    started_slack,
)

DESK = "C0DESK"
SATO = "U0SATO"
PHONE, MASKED_PHONE = "090-1234-5678", "•••-••••-5678"
EMAIL, MASKED_EMAIL = "hanako@example.jp", "h•••@•••.jp"
ADMIN = "admin-token"
CONSOLE_SATO = {"Authorization": "Bearer tok-sato"}
CONSOLE_TANAKA = {"Authorization": "Bearer tok-tanaka"}


def _cli_env(settings: Settings) -> dict[str, str]:
    return {"REDIS_URL": REDIS_URL, "KEY_PREFIX": settings.key_prefix, "TZ": "UTC"}


async def _cli(command: Any, args: list[str], settings: Settings) -> Result:
    # The command runs its own event loop: give it a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, command, args, env=_cli_env(settings))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with started_slack((SATO, "Sato", "Sato Hanako")) as fake:
        yield fake


@pytest.fixture
def console_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        admin_token=ADMIN, agent_tokens={"Sato": "tok-sato", "Tanaka": "tok-tanaka"}
    )


@pytest.fixture
async def world(console_settings: Settings, slack: FakeSlack) -> AsyncIterator[LineWorld]:
    async with line_world_with_slack(console_settings, slack, DESK) as running:
        yield running


def _everything_posted(slack: FakeSlack) -> str:
    return json.dumps(
        [
            call.args
            for name in ("chat.postMessage", "chat.update")
            for call in slack.calls_to(name)
        ],
        ensure_ascii=False,
    )


async def test_a_line_customers_phone_number_reaches_slack_masked(
    world: LineWorld, slack: FakeSlack
) -> None:
    line = world.platform
    user = world.new_user("Hanako")
    await line.say(user, f"電話番号は{PHONE}です")
    await line.say(user, "人と話したい")
    await line.wait_for_text(user, "担当者におつなぎします")

    [escalation] = await escalations(slack, DESK)
    shown = json.dumps(escalation.args["blocks"], ensure_ascii=False)
    assert f"電話番号は{MASKED_PHONE}です" in shown, "the transcript, masked"

    await slack.click(SATO, escalation, CLAIM)
    await line.wait_for_text(user, "担当のSatoがご対応します")
    thread = escalation.result["ts"]
    await line.say(user, f"メールは {EMAIL} です")
    relayed: list[ApiCall] = await slack.wait_for(
        lambda: [p for p in slack.posts(DESK, thread) if "Customer:" in p.args.get("text", "")],
        what="the customer's message in the thread",
    )
    assert f"メールは {MASKED_EMAIL} です" in relayed[0].args["text"]

    posted = _everything_posted(slack)
    assert PHONE not in posted and EMAIL not in posted, "nothing Slack got holds them"
    stored = await world.app.runtime.store.transcript(f"line:{user}", limit=50)
    assert any(PHONE in entry.text for entry in stored), "the transcript keeps the original"


async def test_the_holder_sees_the_original_in_the_console_and_the_view_is_audited(
    world: LineWorld, slack: FakeSlack, console_settings: Settings
) -> None:
    line = world.platform
    user = world.new_user("Hanako")
    key = f"line:{user}"
    await line.say(user, "人と話したい")
    await line.wait_for_text(user, "担当者におつなぎします")
    await line.say(user, f"折り返しは{PHONE}にお願いします")

    async with httpx.AsyncClient(base_url=world.app.base_url, timeout=15) as http:

        async def transcript(headers: dict[str, str]) -> str:
            response = await http.get(f"/agent/api/conversations/{key}", headers=headers)
            assert response.status_code == 200, response.text
            return " ".join(line["text"] for line in response.json()["transcript"])

        async def queue_preview() -> str:
            response = await http.get("/agent/api/queue", headers=CONSOLE_TANAKA)
            return json.dumps(response.json(), ensure_ascii=False)

        async def phone_said() -> bool:
            return MASKED_PHONE in await transcript(CONSOLE_TANAKA)

        await eventually(phone_said, what="the customer's message in the console")
        assert PHONE not in await queue_preview()
        assert PHONE not in await transcript(CONSOLE_SATO), "before claiming: masked"

        claimed = await http.post(f"/agent/api/conversations/{key}/claim", headers=CONSOLE_SATO)
        assert claimed.status_code == 200, claimed.text
        assert f"折り返しは{PHONE}にお願いします" in await transcript(CONSOLE_SATO)
        # The console polls: looking again soon after is the same view.
        assert f"折り返しは{PHONE}にお願いします" in await transcript(CONSOLE_SATO)
        seen = await transcript(CONSOLE_TANAKA)
        assert PHONE not in seen and MASKED_PHONE in seen, "another agent: masked"
        suggested = f"/agent/api/conversations/{key}/suggestions"
        tanaka = (await http.get(suggested, headers=CONSOLE_TANAKA)).json()
        assert tanaka["message"] == f"折り返しは{MASKED_PHONE}にお願いします"
        sato = (await http.get(suggested, headers=CONSOLE_SATO)).json()
        assert sato["message"] == f"折り返しは{PHONE}にお願いします"

    out = await _cli(audit, ["--customer", key, "--format", "json"], console_settings)
    entries = json.loads(out.output)
    assert [(e["actor_id"], e["action"], e["customer_key"]) for e in entries] == [
        ("console:Sato", "view", key)
    ], "one view, however often the console polled"
    conversation = await world.app.runtime.store.load(key)
    assert conversation is not None and entries[0]["conversation_id"] == conversation.id
    table = (await _cli(audit, ["--agent", "console:Sato"], console_settings)).output
    assert "console:Sato" in table and "view" in table and key in table
    none = await _cli(audit, ["--agent", "console:Tanaka", "--format", "json"], console_settings)
    assert json.loads(none.output) == []


async def test_forget_is_audited(console_settings: Settings) -> None:
    key = "line:Ugone"
    get_settings.cache_clear()  # `tsunagu forget` reads the process's settings once
    try:
        await _cli(
            main,  # `tsunagu forget`: the command line hands it the registered channels
            ["forget", key, "--yes", "--by", "鈴木", "--reason", "customer asked by mail"],
            console_settings,
        )
    finally:
        get_settings.cache_clear()
    out = await _cli(audit, ["--customer", key, "--format", "json"], console_settings)
    [entry] = json.loads(out.output)
    assert (entry["actor_id"], entry["action"], entry["reason"]) == (
        "admin:鈴木",
        "forget",
        "customer asked by mail",
    )
    table = (await _cli(audit, [], console_settings)).output
    assert "admin:鈴木" in table and "forget" in table and "customer asked by mail" in table


async def test_exports_from_admin_are_audited_and_their_texts_masked(
    serve_app: Callable[[Settings], Any], console_settings: Settings
) -> None:
    running: RunningApp = await serve_app(console_settings)
    rt = running.runtime
    await rt.records.add(
        SurveyResponse(
            conversation_id="c1",
            customer_key="web:w_1",
            channel="web",
            score=2,
            comment=f"{PHONE}に電話ください",
            resolved_by="bot",
            time=rt.clock.now(),
        )
    )
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=running.base_url, timeout=15) as http:
        csv = await http.get("/admin/api/export.csv", headers=headers)
        assert csv.status_code == 200
        assert f"{MASKED_PHONE}に電話ください" in csv.text and PHONE not in csv.text
        assert (await http.get("/admin/api/faq-proposal.yaml", headers=headers)).status_code == 200
    entries = [e async for e in rt.audit.read()]
    assert [(e.actor_id, e.action) for e in entries] == [("admin", "export"), ("admin", "export")]
    assert "survey answers" in entries[0].reason


async def test_reports_read_customers_words_masked_unless_switched_off(
    redis_client: Any, key_prefix: str, make_settings: Callable[..., Settings]
) -> None:
    from bot.privacy.records import masked_record

    miss = UnansweredMessage(text=f"{EMAIL} に送ってください", channel="line", conversation_id="c")
    masked = RecordStore(redis_client, Keys(key_prefix), retention_days=30, shown=masked_record)
    await masked.add(miss)
    [shown] = [m async for m in masked.read(UnansweredMessage)]
    assert shown.text == f"{MASKED_EMAIL} に送ってください"
    plain = RecordStore(redis_client, Keys(key_prefix), retention_days=30)
    [kept] = [m async for m in plain.read(UnansweredMessage)]
    assert kept.text == miss.text, "stored as written"
    assert (
        make_settings().pii_mask_reports
        and not make_settings(pii_mask_reports=False).pii_mask_reports
    )


def test_log_lines_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tsunagu.test.privacy")
    logger.addFilter(MaskPersonalData())
    try:
        with caplog.at_level(logging.INFO, logger="tsunagu.test.privacy"):
            logger.info("customer wrote %s", f"call {PHONE}", extra={"text": f"mail {EMAIL}"})
    finally:
        logger.filters.clear()
    [record] = caplog.records
    assert record.getMessage() == f"customer wrote call {MASKED_PHONE}"
    assert record.__dict__["text"] == f"mail {MASKED_EMAIL}"


def test_tracebacks_in_the_log_are_masked_in_both_formats() -> None:
    try:
        raise ValueError(f"bad input: {PHONE}")
    except ValueError:
        record = logging.LogRecord("tsunagu.x", logging.ERROR, "", 0, "failed", (), sys.exc_info())
    assert MaskPersonalData().filter(record)
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert MASKED_PHONE in line and PHONE not in line


async def test_audit_entries_are_kept_for_the_retention_and_filed_at_the_clock(
    redis_client: Any, key_prefix: str
) -> None:
    clock = FixedClock(datetime(2027, 1, 11, 0, 0, 30, tzinfo=UTC))
    log = AuditLog(redis_client, Keys(key_prefix), retention_days=30, clock=clock)
    sato = Actor.console("Sato")
    await log.write(sato, "export", "first", customer_key="web:w_1")
    clock.advance(31 * 86_400)
    await log.write(sato, "export", "second", customer_key="web:w_1")
    entries = [e async for e in log.read()]
    assert [e.reason for e in entries] == ["second"], "past the retention: trimmed"
    assert entries[0].time == clock.now()


def test_only_texts_of_a_slack_payload_are_masked() -> None:
    payload = {
        "channel": DESK,
        "text": f"call {PHONE}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Customer:* {EMAIL}"}},
            {
                "type": "actions",
                "block_id": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Claim"},
                        "action_id": "tsunagu_claim",
                        "value": "09012345678",  # a conversation id may look like anything
                    }
                ],
            },
        ],
    }
    masked = masked_texts(payload)
    assert masked["text"] == f"call {MASKED_PHONE}"
    assert masked["blocks"][0]["text"]["text"] == f"*Customer:* {MASKED_EMAIL}"
    assert masked["blocks"][1] == payload["blocks"][1], "ids, values and labels untouched"


def test_the_desk_posts_as_written_when_slack_masking_is_off() -> None:
    client = AsyncWebClient(token="xoxb-test")
    assert desk_client(client, mask=False) is client
    masking = desk_client(client, mask=True)
    assert isinstance(masking, MaskingWebClient) and masking.token == client.token

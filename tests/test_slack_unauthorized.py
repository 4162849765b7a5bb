"""A valid Slack request bolt cannot authorize (Slack's API unreachable or failing) is a 503.

bolt asks Slack's `auth.test` who the bot is before the first request it handles. When that
call failed, a signed, well-formed event or click used to be answered 400 "malformed Slack
request" (connection refused) or 200 with a "reinstall the app" text (Slack answering 5xx),
and was lost either way.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest

from bot.settings import Settings
from tests.fakes.slack_platform import TEAM_ID, FakeSlack, serve_with_slack

SECRET = "unauthorized-signing-secret"
TANAKA, TANAKA_DM = "U0TANAKA", "D0TANAKA"


async def click(fake: FakeSlack) -> httpx.Response:
    """An agent's signed press of the claim button on some desk message."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0SATO", "username": "sato", "team_id": TEAM_ID},
        "api_app_id": "A0TEST",
        "team": {"id": TEAM_ID, "domain": "test"},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C0DESK"},
        "channel": {"id": "C0DESK"},
        "trigger_id": uuid.uuid4().hex,
        "actions": [
            {
                "type": "button",
                "action_id": "tsunagu_claim",
                "block_id": "actions",
                "value": "web:nobody",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    return await fake.deliver(body, "application/x-www-form-urlencoded")


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        f"{r.getMessage()} {getattr(r, 'cause', '')}"
        for r in caplog.records
        if r.levelno == level and r.name.startswith("tsunagu.slack")
    ]


@pytest.mark.parametrize("outage", ["refused", "http 503"])
async def test_an_unreachable_slack_api_makes_events_and_clicks_503_and_the_retry_is_handled(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    caplog.set_level(logging.INFO)
    fake = FakeSlack(SECRET)
    await fake.start()
    fake.add_user(TANAKA, "Tanaka")
    try:
        async with serve_with_slack(make_settings(ask_if_solved=False), fake, "C0DESK") as app:
            if outage == "refused":
                await fake.refuse_connections()
            else:
                fake.outage_status = 503
            event = fake.message_event(TANAKA, "送料はいくらですか？", TANAKA_DM)
            event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
            first = await fake.send_event(event, event_id=event_id)
            assert first.status_code == 503, first.text
            assert "malformed" not in first.text and "reinstall" not in first.text
            pressed = await click(fake)
            assert pressed.status_code == 503, pressed.text
            assert await app.runtime.inbox.pending_count() == 0

            warnings = lines(caplog, logging.WARNING)
            expected = "unreachable" if outage == "refused" else "HTTP 503"
            assert any("answered 503" in w and expected in w for w in warnings), warnings
            assert lines(caplog, logging.ERROR) == []

            # Slack is back; it redelivers the event (a retry), which is now handled.
            await fake.accept_connections()
            fake.outage_status = None
            retry = await fake.send_event(event, event_id=event_id, retry_num=1)
            assert retry.status_code == 200, retry.text
            await fake.wait_for(
                lambda: [p for p in fake.posts(TANAKA_DM) if "送料" in p.args.get("text", "")],
                what="the answer to the redelivered message",
            )
    finally:
        await fake.stop()


async def test_a_refused_bot_token_is_a_503_and_an_error_naming_it(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake = FakeSlack(SECRET)
    await fake.start()
    try:
        async with serve_with_slack(make_settings(), fake, "C0DESK"):
            fake.token = "xoxb-another-token"  # the app's token is no longer valid
            response = await fake.user_says(TANAKA, "hello", TANAKA_DM)
            assert response.status_code == 503, response.text
    finally:
        await fake.stop()
    errors = lines(caplog, logging.ERROR)
    assert any("invalid_auth" in e for e in errors), errors

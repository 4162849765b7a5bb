"""Signed but odd input from LINE and Slack: ignored with one warning line, no traceback.

Such input never comes from the platforms themselves, so it is someone holding the secret
(or a platform change): worth a warning, not an ERROR with a stack trace that pages people.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.settings import Settings
from channels.slack.sender import CHOICE_PREFIX
from tests.fakes.line_platform import line_world, sign
from tests.fakes.slack_platform import FakeSlack, serve_with_slack

SECRET = "odd-input-signing-secret"


def assert_one_line_warnings(caplog: pytest.LogCaptureFixture, expected: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [f"{r.name}: {r.getMessage()}" for r in errors]
    assert any(r.levelno == logging.WARNING and expected in r.getMessage() for r in caplog.records)


async def test_a_line_event_with_a_string_source_is_a_warning_not_a_traceback(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with line_world(make_settings()) as world:
        url, secret = world.app.webhook_url, world.platform.channel_secret
        odd_events: list[dict[str, Any]] = [
            {"type": "message", "source": "U0123", "message": {"type": "text", "text": "x"}},
            {"type": "message", "source": {"type": "user", "userId": "U1"}, "message": "text"},
            {"type": "postback", "source": {"userId": "U2"}, "postback": ["data"]},
            {"type": "message", "source": ["U3"], "timestamp": "yesterday"},
        ]
        body = json.dumps({"destination": "U0BOT", "events": odd_events}).encode()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                url, content=body, headers={"X-Line-Signature": sign(secret, body)}
            )
        assert response.status_code == 200
        assert await world.app.runtime.inbox.pending_count() == 0
    assert_one_line_warnings(caplog, "line: event whose source is not an object ignored")
    assert_one_line_warnings(caplog, "line: unreadable event ignored")


async def test_a_slack_click_without_a_user_is_a_warning_not_a_traceback(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake = FakeSlack(SECRET)
    await fake.start()
    try:
        async with serve_with_slack(make_settings(), fake, "C0DESK"):
            for action_id in ("tsunagu_claim", f"{CHOICE_PREFIX}faq:shipping"):
                payload = {
                    "type": "block_actions",
                    "api_app_id": "A0TEST",
                    "team": {"id": "T0TEST", "domain": "test"},
                    "container": {"type": "message", "message_ts": "1.000001"},
                    "channel": {"id": "D0DM"},
                    "trigger_id": uuid.uuid4().hex,
                    "actions": [
                        {
                            "type": "button",
                            "action_id": action_id,
                            "block_id": "actions",
                            "value": "x",
                            "action_ts": f"{time.time():.6f}",
                        }
                    ],
                }
                body = urlencode({"payload": json.dumps(payload)})
                response = await fake.deliver(body, "application/x-www-form-urlencoded")
                assert response.status_code == 200, response.text
    finally:
        await fake.stop()
    assert_one_line_warnings(caplog, "without a user")

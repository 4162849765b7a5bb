"""Hostile requests on the newer HTTP surfaces: linking codes, /admin's conversations,
the agent console's reply channel, the help center, the Meta webhooks and Slack's
interactivity. Each test is an attack that once got through or answered 500."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FixedClock
from bot.identity import LinkCodes, LockedOut, WrongCode
from bot.identity.codes import (
    MAX_BARE_PROBES_PER_ADDRESS,
    MAX_WRONG_TRIES,
    MAX_WRONG_TRIES_PER_ADDRESS,
)
from bot.reports.conversation_commands import conversations
from bot.settings import Settings
from bot.storage import Keys
from channels.messenger.events import read_webhook
from channels.messenger.surface import INSTAGRAM, MESSENGER
from tests.conftest import REDIS_URL, RunningApp
from tests.fakes.meta_platform import MetaWebhookRig, messenger_webhook_rig
from tests.fakes.slack_platform import serve_with_slack, started_slack
from tests.webclient import WebCustomer

START = 1_900_000_000.0


@pytest.fixture
def codes(redis_client: aioredis.Redis, key_prefix: str) -> LinkCodes:
    return LinkCodes(redis_client, Keys(key_prefix), clock=FixedClock(START))


async def _attempt(codes: LinkCodes, code: str, who: str, address: str | None = None) -> str:
    try:
        await codes.redeem(code, who, address=address)
    except LockedOut:
        return "locked"
    except WrongCode:
        return "wrong"
    return "linked"


async def test_wrong_codes_sent_all_at_once_get_no_more_looks_than_one_at_a_time(
    codes: LinkCodes,
) -> None:
    # Each attempt is counted before its code is looked up: forty guesses fired together
    # cannot all pass the lock-out check before the first of them is counted.
    outcomes = await asyncio.gather(
        *(_attempt(codes, f"{n:06d}", "web:w_attacker") for n in range(40))
    )
    assert outcomes.count("wrong") == MAX_WRONG_TRIES - 1, outcomes
    assert outcomes.count("locked") == 40 - (MAX_WRONG_TRIES - 1)


async def test_identities_made_on_one_address_share_its_wrong_tries(codes: LinkCodes) -> None:
    # A web identity costs one request, so the per-identity cap alone would let one address
    # guess ~100 codes a minute by starting a new conversation every five.
    issued = await codes.issue("line:U1")
    wrong = "000000" if issued.code != "000000" else "111111"
    outcomes = [
        await _attempt(codes, wrong, f"web:w_{n // 4}", "203.0.113.9")
        for n in range(MAX_WRONG_TRIES_PER_ADDRESS)
    ]
    assert outcomes.count("wrong") == MAX_WRONG_TRIES_PER_ADDRESS - 1
    assert await _attempt(codes, issued.code, "web:w_fresh", "203.0.113.9") == "locked"
    # Another address is not affected, nor the code, which the locked attempt left alone.
    assert await _attempt(codes, issued.code, "web:w_owner", "198.51.100.7") == "linked"


async def test_a_right_code_is_no_wrong_try_for_the_address(codes: LinkCodes) -> None:
    for n in range(MAX_WRONG_TRIES_PER_ADDRESS):
        issued = await codes.issue(f"line:U{n}")
        assert await _attempt(codes, issued.code, f"web:w_{n}", "203.0.113.9") == "linked"
    wrong = await codes.issue("line:Uother")
    guess = "000000" if wrong.code != "000000" else "111111"
    assert await _attempt(codes, guess, "web:w_next", "203.0.113.9") == "wrong"


async def test_new_web_identities_from_one_address_cannot_keep_guessing_codes(
    app: RunningApp,
) -> None:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
        statuses: list[int] = []
        while len(statuses) < MAX_WRONG_TRIES_PER_ADDRESS + 2:
            web = await WebCustomer.start(http)  # a fresh identity every three guesses
            for _ in range(3):
                answer = await http.post("/web/link", json={"code": "000000"}, headers=web.auth)
                statuses.append(answer.status_code)
        assert statuses[: MAX_WRONG_TRIES_PER_ADDRESS - 1] == [400] * (
            MAX_WRONG_TRIES_PER_ADDRESS - 1
        )
        assert set(statuses[MAX_WRONG_TRIES_PER_ADDRESS - 1 :]) == {429}
        assert "too many wrong codes" in answer.json()["detail"]


async def test_a_code_typed_in_the_web_chat_counts_against_the_address_too(
    app: RunningApp,
) -> None:
    # 「連携 123456」 in the chat is the same guess as POST /web/link: once the address is
    # locked out, a fresh identity typing a right code in the chat links nothing either.
    issued = await app.runtime.linking.request_code("line:Uvictim")
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
        for n in range(MAX_WRONG_TRIES_PER_ADDRESS):
            if n % 4 == 0:
                web = await WebCustomer.start(http)
            await http.post("/web/link", json={"code": "000000"}, headers=web.auth)
        fresh = await WebCustomer.start(http)
        await fresh.next_from("bot")  # the greeting
        assert (await fresh.say(f"連携 {issued.code}")).status_code == 202
        await fresh.next_from("bot")
        status = await http.get("/web/link", headers=fresh.auth)
        assert status.json()["linked"] is False


async def test_bare_digits_from_one_address_are_looked_up_only_so_often(
    codes: LinkCodes,
) -> None:
    issued = await codes.issue("line:U1")
    other = "000000" if issued.code != "000000" else "111111"
    for n in range(MAX_BARE_PROBES_PER_ADDRESS):
        assert not await codes.is_live_for(other, f"web:w_{n // 10}", address="203.0.113.9")
    assert not await codes.is_live_for(issued.code, "web:w_new", address="203.0.113.9")
    assert await codes.is_live_for(issued.code, "web:w_new", address="198.51.100.7")


ADMIN = "admin-secret"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


async def test_the_last_day_there_is_bounds_no_conversation_search(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    # The search ends at midnight after `until`, which 9999-12-31 has not: it answered 500.
    running: RunningApp = await serve_app(make_settings(admin_token=ADMIN))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
        for path in ("/admin/api/conversations", "/admin/api/conversations.csv"):
            answer = await http.get(path, params={"until": "9999-12-31"}, headers=AS_ADMIN)
            assert answer.status_code == 200, (path, answer.text)
        answer = await http.get(
            "/admin/api/conversations", params={"until": "10000-01-01"}, headers=AS_ADMIN
        )
        assert answer.status_code == 400 and "until" in answer.text
    env = {"REDIS_URL": REDIS_URL, "KEY_PREFIX": running.runtime.keys.prefix}
    listed = await asyncio.to_thread(
        CliRunner().invoke, conversations, ["search", "--until", "9999-12-31"], env=env
    )
    assert listed.exit_code == 0, listed.output


@pytest.fixture
async def meta() -> AsyncIterator[MetaWebhookRig]:
    async with messenger_webhook_rig() as rig:
        yield rig


def _meta_body(messaging: str, timestamp: str = "1700000000000") -> str:
    good = f'{{"sender": {{"id": "U2"}}, "timestamp": {timestamp}, "message": {{"text": "hi"}}}}'
    return (
        f'{{"object": "page", "entry": [{{"id": "P1", "messaging": {messaging}}}, '
        f'{{"id": "P1", "messaging": [{good}]}}]}}'
    )


@pytest.mark.parametrize("messaging", ["5", "true", "1.5"])
async def test_a_signed_entry_whose_messaging_is_no_list_is_skipped_not_a_500(
    meta: MetaWebhookRig, messaging: str
) -> None:
    assert await meta.post_raw(_meta_body(messaging)) == 200
    assert [e.text for e in meta.received] == ["hi"], "the good entry beside it is kept"


@pytest.mark.parametrize("timestamp", ["1" + "0" * 400, "Infinity", "-Infinity", "NaN", "1e300"])
async def test_a_signed_message_with_an_impossible_time_is_kept_without_it(
    meta: MetaWebhookRig, timestamp: str
) -> None:
    # A time no clock shows (too large for a float, or not finite) used to be a 500, or
    # an event the inbox could not read back and dead-lettered: the message was lost.
    assert await meta.post_raw(_meta_body("[]", timestamp)) == 200
    [event] = meta.received
    assert (event.text, event.sent_at) == ("hi", None)


_FIELDS = st.sampled_from(
    ["object", "entry", "id", "time", "messaging", "standby", "sender", "recipient", "timestamp",
     "message", "mid", "text", "is_echo", "quick_reply", "payload", "attachments", "type",
     "postback", "title", "read", "reply_to", "story", "url", "coordinates"]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4) | _FIELDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELDS, inner, max_size=5),
    max_leaves=40,
)
_BODY = st.fixed_dictionaries(
    {"object": st.sampled_from(["page", "instagram"])}, optional={"entry": _JSON}
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=_BODY | _JSON)
def test_any_json_a_meta_webhook_carries_is_events_or_a_malformed_body(document: object) -> None:
    # Bodies are signed, so only someone with the app secret sends odd ones; still, the
    # parser answers with events or `MalformedWebhook` (a 400), never another exception.
    for surface in (MESSENGER, INSTAGRAM):
        try:
            read_webhook(document, surface)
        except ValueError:
            pass


_CLICK: dict[str, Any] = {
    "type": "block_actions",
    "api_app_id": "A0TEST",
    "team": {"id": "T0TEST", "domain": "test"},
    "user": {"id": "U0AGENT", "name": "sato"},
    "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C0DESK"},
    "channel": {"id": "C0DESK"},
    "message": {"ts": "1.000001"},
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    "actions": [
        {"type": "button", "action_id": "tsunagu_claim", "block_id": "actions", "value": "web:w_x"}
    ],
}
_ODD_CLICKS: dict[str, dict[str, Any]] = {
    "actions a number": {"actions": 5},
    "actions an object": {"actions": {"action_id": "tsunagu_claim"}},
    "actions strings": {"actions": ["tsunagu_claim"]},
    "no actions": {"actions": []},
    "value an object": {"actions": [{"action_id": "tsunagu_claim", "value": {"a": [1]}}]},
    "value a number": {"actions": [{"action_id": "tsunagu_claim", "value": 7}]},
    "value missing": {"actions": [{"action_id": "tsunagu_claim"}]},
    "action_id a number": {"actions": [{"action_id": 5, "value": "web:w_x"}]},
    "user a string": {"user": "U0AGENT"},
    "user id a number": {"user": {"id": 5}},
    "container a string": {"container": "C0DESK"},
    "message a list": {"message": [1]},
    "channel a string": {"channel": "C0DESK"},
    "team a string": {"team": "T0TEST"},
    "view a number": {"type": "view_submission", "view": 5},
}


@pytest.mark.parametrize("odd", list(_ODD_CLICKS), ids=list(_ODD_CLICKS))
async def test_signed_slack_clicks_of_odd_shapes_are_answered_without_a_traceback(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, odd: str
) -> None:
    caplog.set_level(logging.INFO)
    async with started_slack() as fake, serve_with_slack(make_settings(), fake, "C0DESK"):
        payload = {**_CLICK, **_ODD_CLICKS[odd]}
        body = urlencode({"payload": json.dumps(payload)})
        response = await fake.deliver(body, "application/x-www-form-urlencoded")
        assert response.status_code in (200, 400), response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [f"{r.name}: {r.getMessage()}" for r in errors]


_EVENT = {"type": "message", "channel": "C0DESK", "user": "U0AGENT", "text": "hi", "ts": "2.0"}
_ODD_EVENTS: dict[str, dict[str, Any]] = {
    "channel a list": {"channel": ["C0DESK"]},
    "user an object": {"user": {"id": "U0AGENT"}},
    "text a number": {"text": 5},
    "ts missing": {"ts": None},
    "thread_ts an object": {"thread_ts": {"ts": "1.0"}},
    "type a number": {"type": 5},
    "no type": {"type": None},
    "blocks a string": {"blocks": "x", "thread_ts": "1.000001"},
    "subtype a list": {"subtype": ["bot_message"]},
}


@pytest.mark.parametrize("odd", list(_ODD_EVENTS), ids=list(_ODD_EVENTS))
async def test_signed_slack_events_of_odd_shapes_are_answered_without_a_traceback(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, odd: str
) -> None:
    caplog.set_level(logging.INFO)
    async with started_slack() as fake, serve_with_slack(make_settings(), fake, "C0DESK"):
        event = {**_EVENT, **_ODD_EVENTS[odd]}
        body = json.dumps(
            {"type": "event_callback", "team_id": "T0TEST", "api_app_id": "A0TEST",
             "event_id": "Ev0ODD", "event_time": 1, "event": event}
        )  # fmt: skip
        response = await fake.deliver(body, "application/json")
        assert response.status_code in (200, 400), response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [f"{r.name}: {r.getMessage()}" for r in errors]


async def test_one_locked_out_identity_retrying_does_not_lock_its_address(
    codes: LinkCodes,
) -> None:
    issued = await codes.issue("line:U1")
    wrong = "000000" if issued.code != "000000" else "111111"
    outcomes = [
        await _attempt(codes, wrong, "web:w_stubborn", "203.0.113.9")
        for _ in range(MAX_WRONG_TRIES_PER_ADDRESS * 2)
    ]
    assert outcomes.count("wrong") == MAX_WRONG_TRIES - 1
    assert await _attempt(codes, issued.code, "web:w_neighbour", "203.0.113.9") == "linked"

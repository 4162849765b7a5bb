"""Nobody let in who should not be, and nothing kept or logged that should not be.

Web tokens (signed, expiring, one customer each), rate limits, CORS, message text as data,
the agents' and admins' APIs, constant-time signatures, secrets and customer text out of
the logs, retention (every per-customer key expires) and erasing a customer on request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from itsdangerous import TimestampSigner

from bot.actor import Actor
from bot.composition.cli import main
from bot.composition.runtime import Runtime
from bot.errors import PlatformUnavailable
from bot.forget import forget_customer
from bot.inbox import Inbox
from bot.inbox_worker import InboxWorker
from bot.logs import JsonFormatter, RedactSecrets
from bot.model import Inbound, Outgoing, Reply
from bot.outbound import replies
from bot.records import ConversationRecord, SurveyResponse, UnansweredMessage
from bot.settings import Settings, get_settings
from bot.storage import Keys
from channels.line.webhook import signature_ok
from channels.web.tokens import TokenError, WebTokens
from tests.conftest import REDIS_URL, RunningApp
from tests.eventually import settled
from tests.fakes.line_platform import line_world
from tests.webclient import WebCustomer

ADMIN = "admin-" + uuid.uuid4().hex


@pytest.fixture
async def http(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    running: RunningApp = await serve_app(make_settings(admin_token=ADMIN))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
        yield client


# -- web tokens --------------------------------------------------------------------------


def test_web_tokens_are_signed_and_expire() -> None:
    tokens = WebTokens(ttl_seconds=60, secret="one-secret")
    token = tokens.issue("w_alice")
    assert tokens.verify(token) == "w_alice"
    forged = WebTokens(ttl_seconds=60, secret="another-secret").issue("w_alice")
    payload = token.rpartition(".")[0]
    for bad in (forged, token[:-2] + "xx", payload + ".AAAA", "", "w_alice"):
        with pytest.raises(TokenError):
            tokens.verify(bad)
    with pytest.MonkeyPatch.context() as patch:
        # Issued 61 seconds ago.
        patch.setattr(TimestampSigner, "get_timestamp", lambda _: int(time.time()) - 61)
        stale = tokens.issue("w_alice")
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(stale)


async def test_one_web_customer_cannot_read_or_write_anothers_conversation(
    http: httpx.AsyncClient,
) -> None:
    alice, bob = await WebCustomer.start(http), await WebCustomer.start(http)
    assert (await alice.say("アリスの秘密の注文番号 A-1234")).status_code == 202
    await alice.next_from("bot")
    # The user id comes from the signed token alone; naming another one changes nothing.
    sneaky = await http.get("/web/messages", params={"user_id": alice.user_id}, headers=bob.auth)
    assert sneaky.status_code == 200
    assert "A-1234" not in sneaky.text and alice.user_id not in sneaky.text
    forged = WebTokens(60, secret="guessed").issue(alice.user_id)
    refused = await http.get("/web/messages", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    for headers in ({}, {"Authorization": alice.token}, {"Authorization": "Basic x"}):
        assert (
            await http.post("/web/messages", json={"text": "x", "client_id": "c1"}, headers=headers)
        ).status_code == 401
    assert all("A-1234" not in m["text"] for m in await bob.poll())


async def test_message_text_is_data_never_markup(http: httpx.AsyncClient) -> None:
    customer = await WebCustomer.start(http)
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)">&lt;b&gt;'
    assert (await customer.say(attack)).status_code == 202
    page = await http.get("/web/messages", headers=customer.auth)
    assert page.headers["content-type"].startswith("application/json")
    [echo] = [m for m in page.json()["messages"] if m["sender"] == "customer"]
    assert echo["text"] == attack, (
        "stored and returned exactly as typed, for the widget to show as text"
    )


# -- rate limits and CORS ---------------------------------------------------------------------


async def test_rate_limits_per_token_and_per_address_answer_429_with_retry_after(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(
        make_settings(web_rate_limit_per_minute=3, web_ip_rate_limit_per_minute=9)
    )
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        alice = await WebCustomer.start(http)
        statuses = [(await alice.say(f"質問 {n}")).status_code for n in range(4)]
        assert statuses == [202, 202, 202, 429]
        refused = await alice.say("もう一度")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "at most 3 messages from one customer per 60 seconds" in refused.json()["detail"]
        bob = await WebCustomer.start(http)
        assert (await bob.say("こんにちは")).status_code == 202, "another token has its own budget"
        # The address's budget: 9 requests (2 starts and 6 messages so far, 429s included).
        assert (await http.post("/web/conversations", json={})).status_code == 201
        over = await http.post("/web/conversations", json={})
        assert over.status_code == 429
        assert "requests from one address" in over.json()["detail"]


async def test_cors_allows_only_the_configured_origins(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(make_settings(cors_origins=["https://shop.example"]))
    preflight = {"Access-Control-Request-Method": "POST"}
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        good = await http.options(
            "/web/messages", headers={"Origin": "https://shop.example", **preflight}
        )
        evil = await http.options(
            "/web/messages", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await http.post(
            "/web/conversations", json={}, headers={"Origin": "https://evil.example"}
        )
    assert good.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_without_configured_origins_no_cross_origin_access(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/web/conversations", json={}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers


# -- agents and admins ---------------------------------------------------------------------


async def test_agent_and_admin_apis_refuse_requests_without_the_right_token(
    http: httpx.AsyncClient,
) -> None:
    paths = ["/admin/api/report", "/agent/api/queue", "/agent/api/me"]
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN}):
            response = await http.get(path, headers=headers)
            assert response.status_code == 401, (path, headers, response.status_code)
        ok = await http.get(path, headers={"Authorization": f"Bearer {ADMIN}"})
        assert ok.status_code == 200, (path, ok.text)
    claim = await http.post("/agent/api/conversations/web%3Aw_x/claim")
    assert claim.status_code == 401


def test_signatures_are_compared_in_constant_time() -> None:
    secret, body = "s3cret", b'{"events": []}'
    from tests.fakes.line_platform import sign

    assert signature_ok(secret, body, sign(secret, body))
    assert not signature_ok(secret, body, sign("other", body))
    assert not signature_ok("", body, sign("", body)), "no secret configured: nothing verifies"
    assert "hmac.compare_digest" in inspect.getsource(signature_ok)
    # Slack requests are checked by slack_sdk's SignatureVerifier (also compare_digest,
    # and timestamps older than 5 minutes refused): see channels/slack/adapter.py and, in
    # tests/test_slack_events.py, test_bad_signature_or_stale_request_is_refused_...
    from slack_sdk.signature import SignatureVerifier

    assert "compare_digest" in inspect.getsource(SignatureVerifier.is_valid)


# -- logs ----------------------------------------------------------------------------------


async def test_secrets_and_customer_text_stay_out_of_info_logs(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    secret_key = "sk-" + uuid.uuid4().hex
    said = "注文番号は 9876-5432 です、住所は東京都千代田区"
    settings = make_settings(secret_key=secret_key, admin_token=ADMIN)
    async with line_world(settings) as world:
        user = world.new_user("Hanako")
        await world.platform.say(user, "送料はいくらですか？")
        await world.platform.wait_for_messages(user, 1)
        await world.platform.say(user, said)
        await world.platform.wait_for_messages(user, 2)
        async with httpx.AsyncClient(base_url=world.app.base_url) as http:
            customer = await WebCustomer.start(http)
            await customer.say(said)
            await customer.next_from("bot")
            web_token = customer.token
        line_secret, line_token = world.platform.channel_secret, world.platform.access_token
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records if r.levelno >= logging.INFO)
    assert logged, "something was logged"
    for secret in (secret_key, ADMIN, line_secret, line_token, web_token):
        assert secret not in logged
    assert "9876-5432" not in logged and "千代田区" not in logged
    assert "送料はいくらですか" not in logged


def test_the_log_filter_blanks_tokens_out() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1", "GET", "/web/ws?token=eyJ1Ijoid18xIn0.abc&after=1-0", "1.1", 101),
        None,
    )
    record.header = "Authorization: Bearer abc.def"
    record.slack = "token xoxb-1234-5678-abcdef"
    assert RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert "eyJ1Ijoid18xIn0" not in line and "abc.def" not in line and "5678" not in line
    assert "token=[redacted]&after=1-0" in line


# -- retention and erasure ----------------------------------------------------------------

# Keys shared by every customer; everything else names one customer and must expire.
SHARED = (
    ":inbox:",
    ":workers",
    ":secret",
    ":records:conversations",
    ":records:surveys",
    ":records:unanswered",
    ":console:",
    ":timers",
    ":handoff:queue",
)


async def test_every_key_about_a_customer_expires(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(conversation_ttl_seconds=3600, dedupe_ttl_seconds=600)
    async with line_world(settings) as world:
        rt = world.app.runtime
        user = world.new_user("Hanako")
        await world.platform.say(user, "送料はいくらですか？")
        await world.platform.wait_for_messages(user, 1)
        await world.platform.say(user, "人と話したい")
        await world.platform.wait_for_text(user, "担当者におつなぎします")
        assert (await rt.agents.claim(f"line:{user}", Actor.console("Sato"))).ok
        assert (
            await rt.agents.reply(
                f"line:{user}", Actor.console("Sato"), "お待たせしました", action_id="m1"
            )
        ).ok
        assert (await rt.agents.close(f"line:{user}", Actor.console("Sato"))).ok
        async with httpx.AsyncClient(base_url=world.app.base_url) as http:
            customer = await WebCustomer.start(http)
            await customer.say("送料はいくらですか？")
            await customer.next_from("bot")
        await settled(rt.inbox)
        forever = []
        async for key in rt.redis.scan_iter(match=f"{settings.key_prefix}:*"):
            if any(part in key for part in SHARED):
                continue
            if await rt.redis.ttl(key) < 0:
                forever.append(key)
    assert forever == [], f"kept forever: {forever}"


async def test_forget_erases_one_customer_and_nobody_else(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    async with line_world(settings) as world:
        rt = world.app.runtime
        gone, kept = world.new_user("Gone"), world.new_user("Kept")
        for user in (gone, kept):
            await world.platform.say(user, "送料はいくらですか？")
            await world.platform.wait_for_messages(user, 1)
            await world.platform.say(user, "人と話したい")
            await world.platform.wait_for_text(user, "担当者におつなぎします")
        records: dict[str, str] = {}
        for user in (gone, kept):
            key = f"line:{user}"
            conversation = await rt.store.load(key)
            assert conversation is not None
            records[user] = conversation.id
            await rt.records.add(
                ConversationRecord(
                    conversation_id=conversation.id,
                    customer_key=key,
                    channel="line",
                    started_at=time.time() - 60,
                    resolution="bot",
                )
            )
            await rt.records.add(
                SurveyResponse(
                    conversation_id=conversation.id,
                    customer_key=key,
                    channel="line",
                    score=5,
                    resolved_by="bot",
                )
            )
            await rt.records.add(
                UnansweredMessage(
                    text=f"秘密 {user}", channel="line", conversation_id=conversation.id
                )
            )

        done = await rt.forget(f"line:{gone}")
        assert done.records == 3 and done.keys > 0
        left = [k async for k in rt.redis.scan_iter(match=f"{settings.key_prefix}:*")]
        assert not [k for k in left if gone in k], "no key names the erased customer"
        assert await rt.store.load(f"line:{gone}") is None
        assert [r.customer_key async for r in rt.records.read(SurveyResponse)] == [f"line:{kept}"]
        assert [r.text async for r in rt.records.read(UnansweredMessage)] == [f"秘密 {kept}"]
        assert await rt.store.load(f"line:{kept}") is not None
        assert f"line:{gone}" not in [
            k for k, _ in await rt.redis.zrange(rt.keys.queue(), 0, -1, withscores=True)
        ]
        again = await rt.forget(f"line:{gone}")
        assert again.keys == 0 and again.records == 0, "repeating is harmless"


def test_forget_command(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("KEY_PREFIX", prefix)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(main, ["forget", "web:w_nobody", "--yes"])
        assert result.exit_code == 0, result.output
        assert "web:w_nobody: erased 0 keys and 0 report records" in result.output
        bad = runner.invoke(main, ["forget", "not a key", "--yes"])
        assert bad.exit_code != 0 and "channel:user" in bad.output
    finally:
        get_settings.cache_clear()


async def test_forget_erases_dead_letters_and_revokes_the_web_token(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    running: RunningApp = await serve_app(settings)
    rt = running.runtime
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        gone, kept = await WebCustomer.start(http), await WebCustomer.start(http)
        for customer in (gone, kept):
            await customer.say("送料はいくらですか？")
            await customer.next_from("bot")

        # Each customer has one event that failed every attempt (the real worker, a handler
        # that always fails), dead-lettered with the full text.
        inbox = Inbox(rt.redis, Keys(f"{settings.key_prefix}:failing"), partitions=1)
        keys = inbox.keys

        async def always_fails(_: Inbound) -> None:
            raise RuntimeError("cannot handle this one")

        for customer in (gone, kept):
            await inbox.put(
                Inbound(
                    event_id=f"web:{customer.user_id}:x",
                    channel="web",
                    user_id=customer.user_id,
                    text=f"秘密の住所 {customer.user_id}",
                )
            )
        worker = InboxWorker(inbox, always_fails, max_attempts=1, retry_base_seconds=0.01)
        await asyncio.wait_for(worker.run(asyncio.Event(), burst=True), timeout=60)
        assert await rt.redis.xlen(keys.inbox_dead()) == 2, "both events dead-lettered"

        done = await forget_customer(
            rt.redis, keys, f"web:{gone.user_id}", customer_data=rt.catalog.customer_data
        )
        assert done.dead_letters == 1
        left = [fields["event"] for _, fields in await rt.redis.xrange(keys.inbox_dead())]
        assert len(left) == 1 and kept.user_id in left[0] and gone.user_id not in left[0]

        await rt.forget(f"web:{gone.user_id}")
        refused = await gone.say("まだいますか？")
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        assert (await http.get("/web/messages", headers=gone.auth)).status_code == 401
        assert (await kept.say("まだいますか？")).status_code == 202, "others keep theirs"
        assert await rt.store.load(f"web:{gone.user_id}") is None, "no new conversation"
        assert not [
            k
            async for k in rt.redis.scan_iter(match=f"{settings.key_prefix}:*")
            if gone.user_id in k
        ], "the revocation does not name the customer"


async def test_forget_erases_the_customers_parked_and_undeliverable_sends(
    runtime: Runtime, settings: Settings
) -> None:
    """Sends a platform could not take name the customer: parked ones wait under the
    customer's keys, given-up ones in the failure log; both go, other customers' stay."""
    delivery, retries = runtime.delivery, runtime.delivery.retries
    outage = PlatformUnavailable("line", "503 from the platform")
    sends = {}
    for user in ("Ugone", "Ukept"):
        reply = Outgoing(
            channel="line",
            user_id=user,
            conversation_id=f"c-{user}",
            message_id=f"m-{user}",
            reply=Reply(text=f"ご住所は東京都 {user} 様宛"),
        )
        sends[user] = replies([reply])
        await retries.park(sends[user], runtime.clock.now(), outage)
        await delivery.undeliverable(sends[user], "gave up", gave_up=True)
    failed = runtime.keys.outbound_failed()
    assert await runtime.redis.xlen(failed) == 2

    await runtime.forget("line:Ugone")

    left = [fields["customer"] for _, fields in await runtime.redis.xrange(failed)]
    assert left == ["line:Ukept"]
    assert not await retries.waiting("line:Ugone", "line")
    assert await retries.waiting("line:Ukept", "line"), "the other customer's send still waits"
    due = await runtime.redis.zrange(runtime.keys.outbound_due("line"), 0, -1)
    assert due == ["line:Ukept"]

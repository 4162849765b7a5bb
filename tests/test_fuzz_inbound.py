"""Every inbound parser against random and hostile input (hypothesis): the LINE webhook,
Slack's events and interactivity, and the web API.

Whatever arrives: never a 500, a body over the limit is answered 413, and nothing without a
valid signature or token leaves a trace (no inbox entry, no conversation, no API call).
Each fuzz runs in a thread with a blocking HTTP client while the app serves in the loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.composition.runtime import Runtime
from bot.settings import Settings
from tests.conftest import RunningApp
from tests.fakes.line_platform import LineWorld, line_world, sign
from tests.fakes.slack_platform import SlackTestApp, serve_with_slack, started_slack
from tests.fakes.slack_platform import sign as slack_sign

pytestmark = pytest.mark.slow

MAX_BODY = 64 * 1024
# Random in development, derandomized under HYPOTHESIS_PROFILE=ci (see tests/conftest.py).
FUZZ = hsettings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

# -- strategies ------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
line_types = st.sampled_from(
    ["message", "postback", "follow", "unfollow", "join", "unsend", "beacon", "nope", ""]
)
message_types = st.sampled_from(
    ["text", "sticker", "image", "video", "audio", "file", "location", "emoji", "?"]
)
maybe_garbage = json_values | st.just({})
header_values = st.from_regex(r"[A-Za-z0-9+/=._-]{1,80}", fullmatch=True)


@st.composite
def line_events(draw: st.DrawFn) -> Any:
    """Events shaped like LINE's, with any field possibly of the wrong type."""
    event: dict[str, Any] = {"type": draw(line_types | scalars)}
    if draw(st.booleans()):
        event["source"] = draw(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["user", "group", "room"]) | scalars,
                    "userId": st.just("U" + uuid.uuid4().hex) | scalars,
                },
                optional={"groupId": scalars, "roomId": scalars},
            )
            | maybe_garbage
        )
    if draw(st.booleans()):
        event["message"] = draw(
            st.fixed_dictionaries(
                {"type": message_types | scalars, "id": scalars},
                optional={
                    "text": scalars,
                    "keywords": json_values,
                    "mention": json_values,
                    "contentProvider": json_values,
                    "latitude": scalars,
                    "fileName": scalars,
                },
            )
            | maybe_garbage
        )
    for key in ("timestamp", "replyToken", "webhookEventId", "deliveryContext", "postback"):
        if draw(st.booleans()):
            event[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        return draw(json_values)  # not even an object
    return event


line_bodies = (
    st.builds(
        lambda events, extra: json.dumps({"destination": "U0", "events": events, **extra}),
        st.lists(line_events(), max_size=4),
        st.dictionaries(st.text(max_size=5), json_values, max_size=2),
    ).map(str.encode)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
)

HOSTILE = [
    b"",
    b"\xff\xfe\xfd",
    b'{"events": "\xff\xfe"}',
    b'{"events": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}",
    b"[" * 200_000,
    b'{"events": [{"type": "message"}]' + b" " * 10 + b"}",
    json.dumps({"events": [{"type": "message", "source": {"userId": 5}}]}).encode(),
    json.dumps({"events": [{"type": "x"}] * 2000}).encode(),
    b"null",
    b"1e999999",
    b'{"events": {"0": 1}}',
]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (API calls fail fast and stay local)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def no_trace(rt: Runtime) -> None:
    """Nothing was stored for any customer and nothing waits in the inbox.

    No wait is needed: an accepted event is in the inbox before its request is answered,
    and it leaves the inbox only after its conversation was stored.
    """
    assert await rt.inbox.backlog() == 0
    leftovers = [k async for k in rt.redis.scan_iter(match=f"{rt.keys.prefix}:conv:*")]
    assert leftovers == []


# -- LINE ------------------------------------------------------------------------------


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    async with line_world(make_settings(max_body_bytes=MAX_BODY)) as running:
        yield running


async def test_line_webhook_without_a_valid_signature_never_has_an_effect(
    world: LineWorld,
) -> None:
    url = world.app.webhook_url
    statuses: set[int] = set()

    def fuzz() -> None:
        with httpx.Client(timeout=10) as http:

            @FUZZ
            @given(body=line_bodies, signature=header_values | st.none())
            def unsigned(body: bytes, signature: str | None) -> None:
                headers = {"Content-Type": "application/json"}
                if signature is not None:
                    headers["X-Line-Signature"] = signature
                response = http.post(url, content=body, headers=headers)
                statuses.add(response.status_code)
                assert response.status_code == 401, response.text

            unsigned()
            for body in HOSTILE:
                wrong = sign("not-the-secret", body)
                response = http.post(url, content=body, headers={"X-Line-Signature": wrong})
                assert response.status_code in (401, 413), response.text

    await asyncio.to_thread(fuzz)
    assert statuses == {401}
    await no_trace(world.app.runtime)
    assert world.platform.sent == [] and world.platform.profile_requests == []
    # The same endpoint, properly signed, is answered: it was not refusing everything.
    user = world.new_user()
    assert await world.platform.say(user, "送料はいくらですか？") == 200
    assert "550" in (await world.platform.wait_for_messages(user, 1))[0]["text"]


async def test_line_webhook_signed_garbage_never_gets_a_500(world: LineWorld) -> None:
    url, secret = world.app.webhook_url, world.platform.channel_secret
    seen: set[int] = set()

    def fuzz() -> None:
        with httpx.Client(timeout=10) as http:

            def post(body: bytes) -> int:
                response = http.post(
                    url, content=body, headers={"X-Line-Signature": sign(secret, body)}
                )
                assert response.status_code in (200, 400, 413), (response.status_code, body[:200])
                if response.status_code == 400:
                    assert "detail" in response.json()
                return response.status_code

            @FUZZ
            @given(body=line_bodies)
            def signed(body: bytes) -> None:
                seen.add(post(body))

            signed()
            for body in HOSTILE:
                seen.add(post(body))

    await asyncio.to_thread(fuzz)
    assert {200, 400} <= seen


async def test_an_oversized_body_is_answered_413_without_being_read(world: LineWorld) -> None:
    url, secret = world.app.webhook_url, world.platform.channel_secret
    huge = b'{"events": [], "pad": "' + b"x" * (MAX_BODY + 10) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 8192):
            yield huge[start : start + 8192]

    async with httpx.AsyncClient(timeout=10) as http:
        declared = await http.post(
            url, content=huge, headers={"X-Line-Signature": sign(secret, huge)}
        )
        streamed = await http.post(
            url, content=chunks(), headers={"X-Line-Signature": sign(secret, huge)}
        )
    # A request that claims a huge body is refused before a byte of it is sent.
    address = httpx.URL(url)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(
        f"POST {address.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {10**9}\r\n"
        "X-Line-Signature: x\r\n\r\n".encode()
    )
    await writer.drain()
    # Waiting for the body would wait forever: the refusal must come without it.
    status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    writer.close()
    assert declared.status_code == streamed.status_code == 413
    assert "too large" in declared.json()["detail"]
    assert b" 413 " in status_line
    await no_trace(world.app.runtime)


# -- Slack -----------------------------------------------------------------------------

SLACK_SECRET = "fuzz-signing-secret"


@pytest.fixture
async def slack(make_settings: Callable[..., Settings]) -> AsyncIterator[SlackTestApp]:
    async with (
        started_slack(secret=SLACK_SECRET) as fake,
        serve_with_slack(make_settings(max_body_bytes=MAX_BODY), fake) as running,
    ):
        yield running


slack_bodies = (
    json_values.map(lambda v: ("application/json", json.dumps(v)))
    | st.builds(
        lambda event, kind, event_id: (
            "application/json",
            json.dumps({"type": kind, "event_id": event_id, "event": event, "team_id": "T0"}),
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["message", "app_mention", "reaction_added"]) | scalars},
            optional={
                "channel_type": st.sampled_from(["im", "channel"]) | scalars,
                "user": scalars,
                "text": scalars,
                "subtype": scalars,
                "files": json_values,
                "thread_ts": scalars,
                "ts": scalars,
            },
        )
        | json_values,
        st.sampled_from(["event_callback", "url_verification", "block_actions", "?"]) | scalars,
        st.text(max_size=12) | scalars,
    )
    | json_values.map(
        lambda v: (
            "application/x-www-form-urlencoded",
            "payload=" + httpx.QueryParams({"p": json.dumps(v)})["p"],
        )
    )
    | st.text(max_size=200).map(lambda t: ("application/x-www-form-urlencoded", t))
    | st.text(max_size=200).map(lambda t: ("application/json", t))
)


async def test_slack_requests_fuzzed_never_500_and_unsigned_ones_leave_no_trace(
    slack: SlackTestApp,
) -> None:
    url = f"{slack.base_url}/slack/events"
    unsigned_statuses: set[int] = set()
    signed_statuses: set[int] = set()

    def fuzz() -> None:
        with httpx.Client(timeout=10) as http:

            @FUZZ
            @given(request=slack_bodies, stale=st.booleans())
            def unsigned(request: tuple[str, str], stale: bool) -> None:
                content_type, body = request
                stamp = str(int(time.time() - (400 if stale else 0)))
                secret = SLACK_SECRET if stale else "wrong-secret"
                response = http.post(
                    url,
                    content=body.encode("utf-8", "surrogatepass"),
                    headers={
                        "Content-Type": content_type,
                        "X-Slack-Request-Timestamp": stamp,
                        "X-Slack-Signature": slack_sign(body, stamp, secret),
                    },
                )
                unsigned_statuses.add(response.status_code)

            unsigned()

    await asyncio.to_thread(fuzz)
    assert unsigned_statuses == {401}
    await no_trace(slack.runtime)
    assert slack.fake.posts() == []

    def fuzz_signed() -> None:
        with httpx.Client(timeout=10) as http:

            @FUZZ
            @given(request=slack_bodies)
            def signed(request: tuple[str, str]) -> None:
                content_type, body = request
                raw = body.encode("utf-8", "surrogatepass")
                stamp = str(int(time.time()))
                response = http.post(
                    url,
                    content=raw,
                    headers={
                        "Content-Type": content_type,
                        "X-Slack-Request-Timestamp": stamp,
                        "X-Slack-Signature": slack_sign(
                            raw.decode("utf-8", "replace"), stamp, SLACK_SECRET
                        ),
                    },
                )
                signed_statuses.add(response.status_code)
                assert response.status_code < 500 or response.status_code == 503, (
                    response.status_code,
                    body[:200],
                )

            signed()

    await asyncio.to_thread(fuzz_signed)


# -- the web API -----------------------------------------------------------------------


def post_with_bad_token(client: httpx.Client, body: bytes, bad: str) -> str:
    """POST `body` as a message under the token `bad`: refused (400 or 401); returns the
    Authorization header sent."""
    auth = "Bearer " + bad
    response = client.post(
        "/web/messages",
        content=body,
        headers={"Authorization": auth, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 401), response.text
    return auth


async def test_web_api_fuzzed_never_500_and_bad_tokens_do_nothing(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(
        make_settings(
            max_body_bytes=MAX_BODY,
            run_worker=False,
            web_rate_limit_per_minute=0,
            web_ip_rate_limit_per_minute=0,
        )
    )
    base = running.base_url
    async with httpx.AsyncClient(base_url=base) as http:
        token = (await http.post("/web/conversations", json={})).json()["token"]
    rt = running.runtime
    before = await rt.redis.xlen(
        rt.keys.inbox(rt.inbox.partition_of(f"web:{rt.channel('web').tokens.verify(token)}"))
    )

    bodies = (
        json_values.map(lambda v: json.dumps(v).encode())
        | st.fixed_dictionaries(
            {},
            optional={
                "text": scalars,
                "choice": scalars,
                "label": scalars,
                "client_id": scalars | st.from_regex(r"^[A-Za-z0-9_-]{1,64}$", fullmatch=True),
                "locale": scalars,
                "name": scalars,
            },
        ).map(lambda d: json.dumps(d).encode())
        | st.binary(max_size=200)
    )

    def fuzz() -> None:
        with httpx.Client(base_url=base, timeout=10) as client:

            @FUZZ
            @given(body=bodies, bad=header_values)
            def bad_token(body: bytes, bad: str) -> None:
                auth = post_with_bad_token(client, body, bad)
                polled = client.get("/web/messages", headers={"Authorization": auth})
                assert polled.status_code == 401

            @FUZZ
            @given(body=bodies, path=st.sampled_from(["/web/messages", "/web/conversations"]))
            def good_token(body: bytes, path: str) -> None:
                response = client.post(
                    path,
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                assert response.status_code in (201, 202, 400), (
                    response.status_code,
                    response.text,
                )

            bad_token()
            assert rt.redis  # still here
            good_token()

    # Bad tokens first: then nothing may have reached the inbox for anybody.
    def only_bad() -> None:
        with httpx.Client(base_url=base, timeout=10) as client:

            @FUZZ
            @given(body=bodies, bad=header_values)
            def bad_token(body: bytes, bad: str) -> None:
                post_with_bad_token(client, body, bad)

            bad_token()

    await asyncio.to_thread(only_bad)
    total = sum([await rt.redis.xlen(rt.keys.inbox(p)) for p in range(rt.inbox.partitions)])
    assert total == 1 and before == 1, "only the conversation started above"
    await asyncio.to_thread(fuzz)

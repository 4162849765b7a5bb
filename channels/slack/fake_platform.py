"""A local stand-in for Slack: the Web API the app calls, and the events Slack would send.

The real `slack_sdk` client talks to it over HTTP (`SLACK_API_BASE_URL`); it records every
call, and posts signed events and button clicks to the app as Slack would (JSON for the
Events API, a form-encoded `payload` for interactivity). It lives in the channel's package
(the registry's `start_fake_platform`); the tests' harness is `tests/fakes/slack_platform.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from aiohttp import web

from channels.slack.settings import SlackSettings

TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-test-token"


@dataclass
class ApiCall:
    """One Web API call the app made."""

    method: str
    args: dict[str, Any]
    result: dict[str, Any]
    time: float = field(default_factory=time.time)


@dataclass
class Line:
    """One thing that happened in the fake workspace, for a readable transcript."""

    who: str
    what: str
    channel: str
    ts: str
    thread_ts: str | None = None


def sign(body: str, timestamp: str, secret: str) -> str:
    """Slack's request signature: v0=HMAC-SHA256(secret, 'v0:timestamp:body')."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class FakeSlack:
    """The fake Slack platform: start it, point the app at `api_url`, then drive it."""

    def __init__(self, signing_secret: str, token: str = BOT_TOKEN):
        self.signing_secret = signing_secret
        self.token = token
        self.calls: list[ApiCall] = []
        self.lines: list[Line] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.api_delay = 0.0  # seconds every Web API call takes (a slow Slack)
        self.outage_status: int | None = None  # every Web API call answers this (a Slack outage)
        self.refused: list[ApiCall] = []  # calls answered with `outage_status`
        self.missing_channels: set[str] = set()  # posting there: channel_not_found
        self.app_url = ""  # where the app under test listens: set by the test
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port = 0
        # A connection per request, as Slack opens them: a kept-alive one can be closed by the
        # app's server as it is reused, failing a delivery for no reason of the app's.
        self._http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        self.api_url = ""
        self._changed = asyncio.Event()
        self._shown: dict[tuple[str, str], list[str]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        self._port = self._runner.addresses[0][1]
        self.api_url = f"http://127.0.0.1:{self._port}/api/"

    async def refuse_connections(self) -> None:
        """Stop listening: every call is refused at the TCP level (Slack unreachable)."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def accept_connections(self) -> None:
        """Listen again, on the same port."""
        if self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
            await self._site.start()

    async def stop(self) -> None:
        """Stop listening."""
        await self._http.aclose()
        if self._runner is not None:
            await self._runner.cleanup()

    def channel_settings(self, handoff_channel: str | None = None) -> SlackSettings:
        """Slack settings pointing Tsunagu at this fake, with a desk channel."""
        return SlackSettings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=self.token,
            signing_secret=self.signing_secret,
            handoff_channel=handoff_channel,
            api_base_url=self.api_url,
        )

    def env(self, handoff_channel: str) -> dict[str, str]:
        """The `SLACK_*` environment that points Tsunagu at this fake, with a desk channel."""
        return {
            "SLACK_BOT_TOKEN": self.token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_HANDOFF_CHANNEL": handoff_channel,
            "SLACK_API_BASE_URL": self.api_url,
        }

    def add_user(self, user_id: str, display_name: str, real_name: str = "") -> None:
        """A workspace member `users.info` knows."""
        self.users[user_id] = {
            "id": user_id,
            "name": display_name.lower(),
            "real_name": real_name or display_name,
            "profile": {"display_name": display_name, "real_name": real_name or display_name},
        }

    def next_ts(self) -> str:
        """A fresh message timestamp, unique in this workspace."""
        return f"1700000000.{next(self._ts):06d}"

    # -- the Web API -----------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(dict(await request.post()))
        for name in ("blocks", "attachments"):
            if isinstance(args.get(name), str):
                args[name] = json.loads(args[name])
        if self.api_delay:
            await asyncio.sleep(self.api_delay)
        if self.outage_status is not None:
            outage = {"ok": False, "error": "service_unavailable"}
            self.refused.append(ApiCall(method, args, outage))
            self._changed.set()
            return web.json_response(outage, status=self.outage_status)
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            result: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        else:
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            result = handler(args) if handler else {"ok": False, "error": "unknown_method"}
        self.calls.append(ApiCall(method, args, result))
        self._changed.set()
        return web.json_response(result)

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "tsunagu",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel in self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith("U"):  # a user id: the bot's direct messages with them
            channel = "D" + channel[1:]
        ts = self.next_ts()
        thread_ts = args.get("thread_ts")
        self.lines.append(Line("bot", " | ".join(_readable(args)), channel, ts, thread_ts))
        self._shown[(channel, ts)] = _readable(args)
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts, **args}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ts, channel = str(args.get("ts")), str(args.get("channel"))
        before, after = self._shown.get((channel, ts), []), _readable(args)
        self._shown[(channel, ts)] = after
        changed = [part for part in after if part not in before]  # just what changed
        self.lines.append(Line(f"bot (edits {ts})", " | ".join(changed), channel, ts))
        return {"ok": True, "channel": channel, "ts": ts, "text": args.get("text", "")}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel"))
        who = f"bot → only {args.get('user')}"
        self.lines.append(Line(who, str(args.get("text")), channel, "", args.get("thread_ts")))
        return {"ok": True, "message_ts": self.next_ts()}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    # -- what the app did --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """Every call of one Web API method, in order."""
        return [call for call in self.calls if call.method == method]

    def posts(self, channel: str | None = None, thread_ts: str | None = None) -> list[ApiCall]:
        """Successful `chat.postMessage` calls, filtered by channel and thread."""
        return [
            call
            for call in self.calls_to("chat.postMessage")
            if call.result.get("ok")
            and (channel is None or call.result["channel"] == channel)
            and (thread_ts is None or call.args.get("thread_ts") == thread_ts)
        ]

    async def wait_for(
        self, found: Callable[[], Any], timeout: float = 30.0, what: str = "a Slack call"
    ) -> Any:
        """Wait until `found()` returns something truthy (re-checked after each API call)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            value = found()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; calls: {self.summary()}")
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass

    def summary(self) -> list[str]:
        """The calls in short, for assertion messages."""
        return [f"{c.method} {json.dumps(c.args, ensure_ascii=False)[:200]}" for c in self.calls]

    def transcript(self) -> str:
        """Everything seen in the workspace, in order, one line each."""
        rows = []
        for line in self.lines:
            where = line.channel + (f" thread {line.thread_ts}" if line.thread_ts else "")
            rows.append(f"[{where}] {line.who}: {line.what}")
        return "\n".join(rows)

    # -- what Slack sends the app ----------------------------------------------------------

    async def deliver(
        self,
        body: str,
        content_type: str,
        *,
        secret: str | None = None,
        timestamp: float | None = None,
        retry_num: int | None = None,
    ) -> httpx.Response:
        """POST a signed request to the app's events URL, as Slack does."""
        stamp = str(int(timestamp if timestamp is not None else time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(body, stamp, secret or self.signing_secret),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self._http.post(f"{self.app_url}/slack/events", content=body, headers=headers)

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> str:
        """An Events API `event_callback` envelope."""
        return json.dumps(
            {
                "token": "legacy-token",
                "team_id": TEAM_ID,
                "api_app_id": "A0TEST",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            }
        )

    async def send_event(self, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """Deliver one event (keyword arguments as for `deliver`, plus `event_id`)."""
        body = self.event_body(event, kwargs.pop("event_id", None))
        return await self.deliver(body, "application/json", **kwargs)

    def message_event(
        self, user: str, text: str, channel: str, *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A person's message: recorded here, and the event Slack would send about it."""
        ts = self.next_ts()
        name = self.users.get(user, {}).get("profile", {}).get("display_name", user)
        self.lines.append(Line(name, text, channel, ts, thread_ts))
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "channel_type": "im" if channel.startswith("D") else "channel",
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    async def user_says(
        self, user: str, text: str, channel: str, *, thread_ts: str | None = None
    ) -> httpx.Response:
        """A person writes in a channel, a thread or a direct message to the bot."""
        return await self.send_event(self.message_event(user, text, channel, thread_ts=thread_ts))

    async def click(
        self,
        user: str,
        message: ApiCall,
        action_id: str,
        *,
        secret: str | None = None,
        action_ts: str | None = None,
    ) -> httpx.Response:
        """A person presses a button of a message the bot posted (`message`: its post).

        `action_ts` replays an earlier press (Slack redelivering it) instead of a new one.
        """
        channel, ts = message.result["channel"], message.result["ts"]
        blocks = self.current_blocks(channel, ts) or message.args.get("blocks") or []
        button = next(
            (
                element
                for block in blocks
                if block.get("type") == "actions"
                for element in block["elements"]
                if element.get("action_id") == action_id
            ),
            None,
        )
        if button is None:
            raise AssertionError(f"no button {action_id} on message {ts}: {blocks}")
        name = self.users.get(user, {}).get("profile", {}).get("display_name", user)
        self.lines.append(Line(name, f"(presses {button['text']['text']})", channel, ts))
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": name, "name": name, "team_id": TEAM_ID},
            "api_app_id": "A0TEST",
            "token": "legacy-token",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": uuid.uuid4().hex,
            "team": {"id": TEAM_ID, "domain": "test"},
            "channel": {"id": channel, "name": "support"},
            "message": {"type": "message", "ts": ts, "blocks": blocks},
            "response_url": f"{self.api_url}response/{uuid.uuid4().hex}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "actions",
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "action_ts": action_ts or f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return await self.deliver(body, "application/x-www-form-urlencoded", secret=secret)

    def current_blocks(self, channel: str, ts: str) -> list[dict[str, Any]] | None:
        """The blocks of a message as last posted or updated."""
        for call in reversed(self.calls):
            if call.method == "chat.update" and (call.args.get("channel"), call.args.get("ts")) == (
                channel,
                ts,
            ):
                return list(call.args.get("blocks") or [])
            if (
                call.method == "chat.postMessage"
                and call.result.get("ts") == ts
                and call.result.get("channel") == channel
            ):
                return list(call.args.get("blocks") or [])
        return None


def _readable(args: dict[str, Any]) -> list[str]:
    """A message's parts: the texts of its blocks and the labels of its buttons."""
    parts: list[str] = []
    for block in args.get("blocks") or []:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(e.get("text", "") for e in block.get("elements", []))
        elif block.get("type") == "actions":
            labels = [e["text"]["text"] for e in block.get("elements", []) if "text" in e]
            parts.append("[" + "] [".join(labels) + "]")
    return parts or [str(args.get("text", ""))]


# -- the app under test, served against this fake ----------------------------------------

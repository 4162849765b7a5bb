"""A local stand-in for Meta's Messenger Platform (Messenger or Instagram Direct): it signs
and posts webhooks to the app as Meta does, and records what the app sends to the Send API.

Used by the tests and by `tsunagu messenger simulate`. It checks what Meta checks: the
access token, the messaging window (a `RESPONSE` within 24 hours of the customer's last
message, `HUMAN_AGENT` within 7 days, by its own clock), the text limit of the surface, 13
quick replies with titles of 20 characters and payloads of 1,000; it can be told to fail,
and to hold the User Profile API's answers until released (a slow Graph API).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from channels.messenger.settings import InstagramSettings, MessengerSettings
from channels.messenger.surface import MESSENGER, Surface
from channels.messenger.webhook import sign
from channels.simulation import FakeServer

Item = dict[str, Any]
DAY = 24 * 3600.0


@dataclass
class Sent:
    """One accepted Send API call."""

    to: str
    message: dict[str, Any]
    messaging_type: str
    tag: str | None = None
    account: str = ""
    at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        """The message's text."""
        return str(self.message.get("text", ""))

    @property
    def quick_replies(self) -> list[dict[str, Any]]:
        """The quick replies the message carries."""
        return list(self.message.get("quick_replies") or [])


@dataclass
class _Failure:
    status: int
    times: int
    after: int  # sends that still succeed before this failure starts
    error: dict[str, Any]
    headers: dict[str, str]


class FakeMetaPlatform(FakeServer[Sent]):
    """The Graph API's Send API and the webhook sender of one Page or Instagram account."""

    url_suffix = "/v25.0"  # `base_url` carries the Graph API version, as the app's does

    def __init__(
        self,
        surface: Surface = MESSENGER,
        *,
        app_secret: str = "fake-app-secret",
        access_token: str = "fake-access-token",
        verify_token: str = "fake-verify-token",
        account_id: str = "1000000000000001",
        webhook_url: str = "",
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(webhook_url)
        self.surface = surface
        self.app_secret = app_secret
        self.access_token = access_token
        self.verify_token = verify_token
        self.account_id = account_id
        self.clock = clock  # the time messages are stamped with and the window is judged by
        self.refused: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        self.last_message_at: dict[str, float] = {}
        self.profiles: dict[str, dict[str, str]] = {}
        self.profile_requests: list[str] = []
        self._profiles_released: asyncio.Event | None = None  # None: profiles answer at once
        self._failures: list[_Failure] = []

    # -- the API (served by `start`, see channels/simulation.py) -----------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The Send API and the User Profile API."""
        router.add_post("/{version}/{account}/messages", self._send)
        router.add_get("/{version}/{user}", self._profile)

    # -- what the test or developer controls ---------------------------------------

    def channel_settings(self, **overrides: Any) -> MessengerSettings | InstagramSettings:
        """The channel's settings pointing it at this platform (and `overrides`, such as
        `profile_timeout_seconds=0`); nothing is read from the environment."""
        values: dict[str, Any] = {
            "app_secret": self.app_secret,
            "verify_token": self.verify_token,
            "api_base_url": self.base_url,
            **overrides,
        }
        if self.surface is MESSENGER:
            return MessengerSettings(
                _env_file=None,  # type: ignore[call-arg]
                page_access_token=self.access_token,
                **values,
            )
        return InstagramSettings(
            _env_file=None,  # type: ignore[call-arg]
            access_token=self.access_token,
            **values,
        )

    def add_user(self, user_id: str, **profile: str) -> None:
        """A customer whose profile the User Profile API gives (`first_name`, `last_name`
        on Messenger; `name`, `username` on Instagram)."""
        self.profiles[user_id] = profile

    def hold_profiles(self) -> None:
        """Keep every User Profile API request waiting (recorded in `profile_requests` as
        it arrives) until `release_profiles`."""
        if self._profiles_released is None:
            self._profiles_released = asyncio.Event()

    def release_profiles(self) -> None:
        """Answer the held profile requests, and the next ones at once."""
        if self._profiles_released is not None:
            self._profiles_released.set()
            self._profiles_released = None

    async def stop(self) -> None:
        """Answer any held profile request, then stop serving."""
        self.release_profiles()
        await super().stop()

    def fail(
        self,
        status: int,
        *,
        code: int | None = None,
        subcode: int | None = None,
        times: int = 1,
        after: int = 0,
        message: str = "fake failure",
        retry_after: float | None = None,
    ) -> None:
        """Make `times` sends answer `status` with Meta's error `code`/`subcode`, starting
        after `after` more sends succeeded."""
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures.append(_Failure(status, times, after, error, headers))

    # -- webhooks -------------------------------------------------------------------

    def item(self, user_id: str, **fields: Any) -> Item:
        """One `messaging` item from the customer, stamped with the platform's clock."""
        return {
            "sender": {"id": user_id},
            "recipient": {"id": self.account_id},
            "timestamp": int(self.clock() * 1000),
            **fields,
        }

    def text(self, user_id: str, text: str) -> Item:
        """The customer types `text`."""
        return self.item(user_id, message={"mid": _mid(), "text": text})

    def quick_reply(self, user_id: str, reply: dict[str, Any]) -> Item:
        """The customer taps a quick reply we sent: its title as text, its payload."""
        message = {
            "mid": _mid(),
            "text": reply["title"],
            "quick_reply": {"payload": reply["payload"]},
        }
        return self.item(user_id, message=message)

    def postback(self, user_id: str, payload: str, title: str = "") -> Item:
        """The customer taps a button of a menu or template."""
        return self.item(user_id, postback={"mid": _mid(), "title": title, "payload": payload})

    def attachment(self, user_id: str, kind: str, url: str = "", **payload: Any) -> Item:
        """The customer sends an image, video, audio, file…"""
        url = url or f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={uuid.uuid4().int}"
        attachment = {"type": kind, "payload": {"url": url, **payload}}
        return self.item(user_id, message={"mid": _mid(), "attachments": [attachment]})

    def echo(self, user_id: str, text: str) -> Item:
        """Meta's copy of a message the account sent (to `user_id`)."""
        return {
            "sender": {"id": self.account_id},
            "recipient": {"id": user_id},
            "timestamp": int(self.clock() * 1000),
            "message": {"mid": _mid(), "text": text, "is_echo": True},
        }

    def read(self, user_id: str) -> Item:
        """The customer read our messages."""
        return self.item(user_id, read={"watermark": int(self.clock() * 1000)})

    def body(self, items: list[Item]) -> bytes:
        """A webhook body as Meta sends it: one entry, non-ASCII escaped (`\\u3042`)."""
        document = {
            "object": self.surface.webhook_object,
            "entry": [
                {"id": self.account_id, "time": int(self.clock() * 1000), "messaging": items}
            ],
        }
        return json.dumps(document).encode()

    async def post(
        self, items: list[Item], *, signature: str | None = None, body: bytes | None = None
    ) -> int:
        """POST a webhook to the app, signed as Meta signs it; returns the HTTP status.
        Each customer's message opens their window here, as at Meta."""
        for item in items:
            sender = str((item.get("sender") or {}).get("id", ""))
            if sender != self.account_id and ("message" in item or "postback" in item):
                self.last_message_at[sender] = item.get("timestamp", 0) / 1000
        data = body if body is not None else self.body(copy.deepcopy(items))
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature
            if signature is not None
            else sign(self.app_secret, data),
        }
        return await self.deliver(data, headers)

    async def say(self, user_id: str, text: str) -> int:
        """The customer types `text`."""
        return await self.post([self.text(user_id, text)])

    async def tap(self, user_id: str, reply: dict[str, Any]) -> int:
        """The customer taps a quick reply we sent."""
        return await self.post([self.quick_reply(user_id, reply)])

    async def subscribe(self, *, verify_token: str | None = None) -> tuple[int, str]:
        """Meta's handshake when the webhook URL is saved: (status, body)."""
        challenge = uuid.uuid4().hex
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": self.verify_token if verify_token is None else verify_token,
            "hub.challenge": challenge,
        }
        async with self.session.get(self.webhook_url, params=params) as response:
            return response.status, await response.text()

    # -- what was sent ---------------------------------------------------------------

    def sent_to(self, user_id: str) -> list[Sent]:
        """Every message accepted for `user_id`, in order."""
        return [s for s in self.sent if s.to == user_id]

    def texts_to(self, user_id: str) -> list[str]:
        """The texts sent to `user_id`, in order."""
        return [s.text for s in self.sent_to(user_id)]

    async def wait_for_text(self, user_id: str, part: str, timeout: float = 30.0) -> Sent:
        """Wait for a message to `user_id` whose text contains `part`; returns it."""

        def found() -> Sent | None:
            return next((s for s in self.sent_to(user_id) if part in s.text), None)

        if not await self.wait_until(lambda: found() is not None, timeout):
            raise AssertionError(
                f"no message to {user_id} contains {part!r}: {self.texts_to(user_id)}"
            )
        sent = found()
        assert sent is not None
        return sent

    # -- the Send API ----------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or request.query.get("access_token", "")
        if token != self.access_token:
            return _error(400, 190, None, "Invalid OAuth access token.")
        if self._failures and self._failures[0].after > 0:
            self._failures[0].after -= 1
        elif self._failures:
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return web.json_response(
                {"error": failure.error}, status=failure.status, headers=failure.headers
            )
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 100, None, "Invalid JSON")
        problem = self._problem(body)
        if problem is not None:
            status, code, subcode, message = problem
            self.refused.append((code, body, {"message": message}))
            return _error(status, code, subcode, message)
        sent = Sent(
            to=body["recipient"]["id"],
            message=body["message"],
            messaging_type=body["messaging_type"],
            tag=body.get("tag"),
            account=request.match_info["account"],
            at=self.clock(),
        )
        await self.record(sent)
        return web.json_response({"recipient_id": sent.to, "message_id": _mid()})

    async def _profile(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        self.profile_requests.append(user)
        await self.changed()
        released = self._profiles_released
        if released is not None:
            await released.wait()
        if request.headers.get("Authorization", "") != f"Bearer {self.access_token}":
            return _error(400, 190, None, "Invalid OAuth access token.")
        profile = self.profiles.get(user)
        if profile is None:
            return _error(400, 100, 33, "Unsupported get request. Object does not exist.")
        wanted = request.query.get("fields", "").split(",")
        return web.json_response({"id": user, **{k: v for k, v in profile.items() if k in wanted}})

    def _problem(self, body: Any) -> tuple[int, int, int | None, str] | None:
        """Why Meta would refuse this send, or None."""
        if not isinstance(body, dict) or not isinstance(body.get("recipient"), dict):
            return 400, 100, None, "(#100) The parameter recipient is required"
        kind, tag = body.get("messaging_type"), body.get("tag")
        if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG") or (kind == "MESSAGE_TAG") != bool(
            tag
        ):
            return 400, 100, None, "(#100) Invalid messaging_type or tag"
        user = str(body["recipient"].get("id", ""))
        last = self.last_message_at.get(user)
        if last is None:
            return 400, 100, 2018001, "(#100) No matching user found"
        age = self.clock() - last
        limit = 7 * DAY if tag == "HUMAN_AGENT" else DAY
        if age > limit:
            return (
                400,
                10,
                2018278,
                "(#10) This message is sent outside of allowed window.",
            )
        message = body.get("message") or {}
        text = str(message.get("text", ""))
        if not text or self.surface.text_length(text) > self.surface.text_limit:
            return (
                400,
                100,
                None,
                f"(#100) Length of param message[text] must be less than {self.surface.text_limit}",
            )
        replies = message.get("quick_replies") or []
        if len(replies) > 13:
            return (
                400,
                100,
                None,
                "(#100) param message[quick_replies] must have at most 13 elements",
            )
        for reply in replies:
            if len(str(reply.get("title", ""))) > 20 or not reply.get("title"):
                return 400, 100, None, "(#100) Quick reply title must be 1 to 20 characters"
            if len(str(reply.get("payload", ""))) > 1000:
                return 400, 100, None, "(#100) Quick reply payload must be at most 1000 characters"
        return None


def _error(status: int, code: int, subcode: int | None, message: str) -> web.Response:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": uuid.uuid4().hex[:11],
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status)


def _mid() -> str:
    return "m_" + uuid.uuid4().hex + uuid.uuid4().hex[:20]

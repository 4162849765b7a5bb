"""A local stand-in for LINE: it signs and posts webhooks to the app exactly as LINE does,
and records what the real line-bot-sdk client sends to the Messaging API.

Used by the tests (`tests/fakes/line_platform.py`) and by `tsunagu line simulate`. It checks
what LINE checks (access token, reply token used once and in time, the 5-message, 5,000
character, 13-button, 20-character and 300-character limits, the push retry key) and can be
told to fail or to be slow. It also keeps rich menus (created, their images, the default,
each user's link and every link and unlink in order), answers the message quota, this
month's consumption (the pushes it accepted, by recipient, plus `usage_offset`) and the bot
info, and records every `markAsRead` token.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from channels.line.settings import LineSettings
from channels.simulation import FakeServer

Event = dict[str, Any]
ENDPOINTS = (
    "reply",
    "push",
    "loading",
    "profile",
    "content",
    "richmenu",
    "link",
    "unlink",
    "quota",
    "consumption",
    "info",
    "mark_read",
)
# What LINE checks of a rich menu: its size, 1-20 areas, a 14-character chat bar text.
MENU_WIDTHS = (800, 2500)
MAX_MENU_AREAS = 20
MAX_CHAT_BAR_TEXT = 14


@dataclass
class Sent:
    """One accepted reply or push call."""

    kind: str  # "reply" or "push"
    to: str
    messages: list[dict[str, Any]]
    retry_key: str | None = None
    at: float = field(default_factory=time.time)


@dataclass
class _Failure:
    status: int
    times: int
    body: dict[str, Any]
    headers: dict[str, str]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sign(secret: str, body: bytes) -> str:
    """X-Line-Signature for `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class FakeLinePlatform(FakeServer[Sent]):
    """The Messaging API (api.line.me and api-data.line.me) and the webhook sender in one."""

    def __init__(
        self,
        channel_secret: str = "fake-channel-secret",
        access_token: str = "fake-access-token",
        *,
        webhook_url: str = "",
        reply_token_ttl: float = 60.0,
        destination: str = "Ufakebot0000000000000000000000000",
    ):
        super().__init__(webhook_url)
        self.channel_secret = channel_secret
        self.access_token = access_token
        self.reply_token_ttl = reply_token_ttl
        self.destination = destination
        self.loading: list[dict[str, Any]] = []
        self.profile_requests: list[str] = []
        self.rejected: list[tuple[str, int, dict[str, Any]]] = []
        self.users: dict[str, dict[str, str]] = {}
        self.contents: dict[str, tuple[bytes, str]] = {}
        self.blocked: set[str] = set()
        # Rich menus: definitions by id, uploaded images, the default, each user's link.
        self.rich_menus: dict[str, dict[str, Any]] = {}
        self.rich_menu_images: dict[str, tuple[bytes, str]] = {}
        self.default_rich_menu: str | None = None
        self.user_menus: dict[str, str] = {}
        self.menu_calls: list[tuple[str, str, str | None]] = []  # ("link"|"unlink", user, menu)
        # The account's plan and what it used this month beyond the pushes seen here.
        self.quota: dict[str, Any] = {"type": "limited", "value": 200}
        self.usage_offset = 0
        self.quota_requests = 0
        self.bot_info: dict[str, Any] = {
            "userId": destination,
            "basicId": "@fakebot",
            "displayName": "Fake Shop",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
        self.read_tokens: list[str] = []
        self._tokens: dict[str, tuple[float, bool]] = {}
        self._targets: dict[str, str] = {}
        self._retry_keys: dict[str, str] = {}
        self._failures: dict[str, list[_Failure]] = {name: [] for name in ENDPOINTS}
        self._delays: dict[str, float] = dict.fromkeys(ENDPOINTS, 0.0)
        # Calls to carry out and then leave unanswered (see `lose_answers`), per endpoint.
        self._answers_to_lose: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        # Calls being held by `slow`, now and at most at once (per endpoint).
        self._waiting: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        self.most_at_once: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        # Endpoints whose calls wait until released (see `hold`), and how many wait now.
        self._released: dict[str, asyncio.Event] = {}
        self.held: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)

    # -- the API (served by `start`, see channels/simulation.py) -----------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The Messaging API's endpoints."""
        router.add_post("/v2/bot/message/reply", self._reply)
        router.add_post("/v2/bot/message/push", self._push)
        router.add_post("/v2/bot/chat/loading/start", self._loading)
        router.add_get("/v2/bot/profile/{user_id}", self._profile)
        router.add_get("/v2/bot/message/{message_id}/content", self._content)
        router.add_post("/v2/bot/richmenu", self._create_menu)
        router.add_get("/v2/bot/richmenu/list", self._list_menus)
        router.add_delete("/v2/bot/richmenu/{menu_id}", self._delete_menu)
        router.add_post("/v2/bot/richmenu/{menu_id}/content", self._menu_image)
        router.add_post("/v2/bot/user/all/richmenu/{menu_id}", self._set_default_menu)
        router.add_delete("/v2/bot/user/all/richmenu", self._cancel_default_menu)
        router.add_post("/v2/bot/user/{user_id}/richmenu/{menu_id}", self._link_menu)
        router.add_delete("/v2/bot/user/{user_id}/richmenu", self._unlink_menu)
        router.add_get("/v2/bot/message/quota", self._quota)
        router.add_get("/v2/bot/message/quota/consumption", self._consumption)
        router.add_get("/v2/bot/info", self._bot_info)
        router.add_post("/v2/bot/chat/markAsRead", self._mark_read)

    # -- what the test or developer controls ---------------------------------------

    def env(self) -> dict[str, str]:
        """The `LINE_*` environment that points Tsunagu's LINE channel at this platform."""
        return {
            "LINE_CHANNEL_SECRET": self.channel_secret,
            "LINE_CHANNEL_ACCESS_TOKEN": self.access_token,
            "LINE_API_BASE_URL": self.base_url,
            "LINE_DATA_API_BASE_URL": self.base_url,
        }

    def channel_settings(self, **overrides: Any) -> LineSettings:
        """LINE settings pointing Tsunagu's LINE channel at this platform (and `overrides`,
        such as `reply_token_ttl_seconds=0.01`); nothing is read from the environment."""
        values: dict[str, Any] = {
            "channel_secret": self.channel_secret,
            "channel_access_token": self.access_token,
            "api_base_url": self.base_url,
            "data_api_base_url": self.base_url,
            **overrides,
        }
        return LineSettings(_env_file=None, **values)  # type: ignore[call-arg]

    def add_user(self, user_id: str, name: str = "Customer", language: str = "ja") -> None:
        """A LINE user whose profile the API returns."""
        self.users[user_id] = {"displayName": name, "language": language}

    def fail(
        self,
        endpoint: str,
        status: int,
        *,
        times: int = 1,
        message: str = "fake failure",
        retry_after: float | None = None,
    ) -> None:
        """Make the next `times` calls to `endpoint` (reply, push, loading, profile,
        content) answer `status`."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures[endpoint].append(_Failure(status, times, {"message": message}, headers))

    def slow(self, endpoint: str, seconds: float) -> None:
        """Make every call to `endpoint` take `seconds` longer."""
        self._delays[endpoint] = seconds

    def hold(self, endpoint: str) -> None:
        """Keep every call to `endpoint` waiting (counted in `held` while it waits), before
        it is carried out, until `release`: a platform that takes as long as the test says."""
        self._released.setdefault(endpoint, asyncio.Event())

    def release(self, endpoint: str) -> None:
        """Carry out the held calls to `endpoint`, and the next ones at once."""
        released = self._released.pop(endpoint, None)
        if released is not None:
            released.set()

    async def stop(self) -> None:
        """Carry out every held call, then stop serving."""
        for endpoint in list(self._released):
            self.release(endpoint)
        await super().stop()

    def lose_answers(self, endpoint: str, *, times: int = 1) -> None:
        """Carry out the next `times` calls to `endpoint` (reply, push), then drop their
        connections unanswered: LINE took the messages, and the caller cannot know it."""
        self._answers_to_lose[endpoint] += times

    def add_rich_menu(self, menu_id: str, name: str = "existing menu") -> None:
        """A rich menu (with its image) the account already has, e.g. from an earlier setup."""
        self.rich_menus[menu_id] = {"richMenuId": menu_id, "name": name, "areas": []}
        self.rich_menu_images[menu_id] = (b"\x89PNG", "image/png")

    def block(self, user_id: str) -> None:
        """The user blocked the account: pushes to them are refused for good."""
        self.blocked.add(user_id)

    # -- webhooks -------------------------------------------------------------------

    def event(self, event_type: str, user_id: str, *, reply: bool = True, **fields: Any) -> Event:
        """A webhook event as LINE builds it (source, ids, reply token, timestamps)."""
        source = fields.pop("source", None) or {"type": "user", "userId": user_id}
        event: Event = {
            "type": event_type,
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": source,
            "webhookEventId": uuid.uuid4().hex[:26].upper(),
            "deliveryContext": {"isRedelivery": False},
        }
        if reply:
            token = uuid.uuid4().hex
            self._tokens[token] = (time.time(), False)
            self._targets[token] = str(
                source.get("groupId") or source.get("roomId") or source.get("userId")
            )
            event["replyToken"] = token
        event.update(fields)
        return event

    def message(self, user_id: str, message: dict[str, Any], **fields: Any) -> Event:
        """A message event; `message` lacks only its id and quote token."""
        body = {"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex, **message}
        return self.event("message", user_id, message=body, **fields)

    def text(self, user_id: str, text: str, **fields: Any) -> Event:
        """A text message event (with its `markAsReadToken`, as LINE sends it)."""
        message = {"type": "text", "text": text, "markAsReadToken": uuid.uuid4().hex}
        return self.message(user_id, message, **fields)

    def postback(self, user_id: str, data: str, **fields: Any) -> Event:
        """What LINE sends when a postback button is tapped."""
        return self.event("postback", user_id, postback={"data": data}, **fields)

    def media(
        self, user_id: str, kind: str, content: bytes = b"\x89PNG fake", **extra: Any
    ) -> Event:
        """An image, video, audio or file message whose content the data API serves."""
        event = self.message(user_id, {"type": kind, "contentProvider": {"type": "line"}, **extra})
        media_type = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/m4a"}
        self.contents[event["message"]["id"]] = (
            content,
            media_type.get(kind, "application/octet-stream"),
        )
        return event

    async def post(
        self,
        events: list[Event],
        *,
        redelivery: bool = False,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> int:
        """POST a webhook to the app, signed as LINE signs it; returns the HTTP status."""
        if body is None:
            sent = copy.deepcopy(events)
            for event in sent:
                event.setdefault("deliveryContext", {})["isRedelivery"] = redelivery
            body = json.dumps(
                {"destination": self.destination, "events": sent}, ensure_ascii=False
            ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "LineBotWebhook/2.0",
            "X-Line-Signature": signature
            if signature is not None
            else sign(self.channel_secret, body),
        }
        return await self.deliver(body, headers)

    async def verify(self) -> int:
        """What the console's Verify button sends: a webhook with no events."""
        return await self.post([])

    async def say(self, user_id: str, text: str) -> int:
        """The user types `text`."""
        return await self.post([self.text(user_id, text)])

    async def tap(self, user_id: str, item: dict[str, Any]) -> int:
        """The user taps a quick-reply item we were sent."""
        return await self.post([self.postback(user_id, item["action"]["data"])])

    # -- what was sent ---------------------------------------------------------------

    def pushes_this_month(self) -> int:
        """Pushes accepted, counted as LINE counts them: one per recipient per call."""
        return sum(1 for s in self.sent if s.kind == "push")

    def menu_of(self, user_id: str) -> str | None:
        """The rich menu the user sees: their own link, else the default."""
        return self.user_menus.get(user_id, self.default_rich_menu)

    def messages_to(self, to: str) -> list[dict[str, Any]]:
        """Every message object delivered to `to`, in order."""
        return [m for s in self.sent if s.to == to for m in s.messages]

    async def wait_for_messages(
        self, to: str, count: int, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Wait until at least `count` messages were delivered to `to`; returns them all."""

        if not await self.wait_until(lambda: len(self.messages_to(to)) >= count, timeout):
            got = self.messages_to(to)
            raise AssertionError(
                f"expected {count} messages to {to}, got {len(got)}: {got}"
            ) from None
        return self.messages_to(to)

    async def wait_for_text(self, to: str, part: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for a message to `to` whose text contains `part`; returns it."""

        def found() -> dict[str, Any] | None:
            return next((m for m in self.messages_to(to) if part in m.get("text", "")), None)

        if not await self.wait_until(lambda: found() is not None, timeout):
            got = [m.get("text") for m in self.messages_to(to)]
            raise AssertionError(f"no message to {to} contains {part!r}: {got}") from None
        message = found()
        assert message is not None
        return message

    # -- the Messaging API --------------------------------------------------------------

    async def _gate(self, endpoint: str, request: web.Request) -> web.Response | None:
        """Delay, holds, authentication and injected failures common to every endpoint."""
        released = self._released.get(endpoint)
        if released is not None:
            self.held[endpoint] += 1
            try:
                await released.wait()
            finally:
                self.held[endpoint] -= 1
        if self._delays[endpoint]:
            self._waiting[endpoint] += 1
            self.most_at_once[endpoint] = max(self.most_at_once[endpoint], self._waiting[endpoint])
            try:
                await asyncio.sleep(self._delays[endpoint])
            finally:
                self._waiting[endpoint] -= 1
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response({"message": "Authentication failed"}, status=401)
        failures = self._failures[endpoint]
        if failures:
            failure = failures[0]
            failure.times -= 1
            if failure.times <= 0:
                failures.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        return None

    def _check_messages(self, messages: object) -> str | None:
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return "Size must be between 1 and 5 (messages)"
        for n, message in enumerate(messages):
            if message.get("type") == "text" and not 1 <= _units(message.get("text", "")) <= 5000:
                return f"Length must be between 1 and 5000 (messages[{n}].text)"
            items = (message.get("quickReply") or {}).get("items") or []
            if len(items) > 13:
                return f"Size must be between 0 and 13 (messages[{n}].quickReply.items)"
            for i, item in enumerate(items):
                action = item.get("action") or {}
                if len(action.get("label", "")) > 20:
                    return f"Length must be at most 20 (messages[{n}].quickReply.items[{i}].label)"
                if len(action.get("data", "")) > 300:
                    return f"Length must be at most 300 (messages[{n}].quickReply.items[{i}].data)"
        return None

    async def _refuse(self, endpoint: str, status: int, message: str, body: Any) -> web.Response:
        self.rejected.append((endpoint, status, {"message": message, "request": body}))
        return web.json_response({"message": message}, status=status)

    async def _reply(self, request: web.Request) -> web.Response:
        refused = await self._gate("reply", request)
        if refused is not None:
            return refused
        body = await request.json()
        problem = self._check_messages(body.get("messages"))
        if problem:
            return await self._refuse("reply", 400, problem, body)
        token = body.get("replyToken", "")
        issued, used = self._tokens.get(token, (0.0, True))
        if used or time.time() - issued > self.reply_token_ttl:
            return await self._refuse("reply", 400, "Invalid reply token", body)
        self._tokens[token] = (issued, True)
        to = self._targets.get(token, "")
        await self.record(Sent("reply", to, body["messages"]))
        return self._answer("reply", request, {"sentMessages": self._sent_ids(body["messages"])})

    async def _push(self, request: web.Request) -> web.Response:
        refused = await self._gate("push", request)
        if refused is not None:
            return refused
        body = await request.json()
        retry_key = request.headers.get("X-Line-Retry-Key")
        if retry_key is not None and retry_key in self._retry_keys:
            headers = {"x-line-accepted-request-id": self._retry_keys[retry_key]}
            return web.json_response(
                {"message": "The retry key is already accepted"}, status=409, headers=headers
            )
        problem = self._check_messages(body.get("messages"))
        if problem:
            return await self._refuse("push", 400, problem, body)
        if body.get("to") in self.blocked:
            return await self._refuse("push", 400, "Failed to send messages", body)
        if retry_key is not None:
            self._retry_keys[retry_key] = uuid.uuid4().hex
        await self.record(Sent("push", body["to"], body["messages"], retry_key))
        return self._answer("push", request, {"sentMessages": self._sent_ids(body["messages"])})

    def _answer(self, endpoint: str, request: web.Request, body: Any) -> web.Response:
        """The answer to a call carried out, or its connection dropped (`lose_answers`)."""
        if self._answers_to_lose[endpoint] and request.transport is not None:
            self._answers_to_lose[endpoint] -= 1
            request.transport.abort()
        return web.json_response(body)

    async def _loading(self, request: web.Request) -> web.Response:
        refused = await self._gate("loading", request)
        if refused is not None:
            return refused
        body = await request.json()
        self.loading.append({**body, "at": time.time()})
        return web.json_response({}, status=202)

    async def _profile(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        self.profile_requests.append(user_id)
        refused = await self._gate("profile", request)
        if refused is not None:
            return refused
        user = self.users.get(user_id)
        if user is None:
            return web.json_response({"message": "Not found"}, status=404)
        return web.json_response({"userId": user_id, "pictureUrl": "", **user})

    async def _content(self, request: web.Request) -> web.Response:
        refused = await self._gate("content", request)
        if refused is not None:
            return refused
        found = self.contents.get(request.match_info["message_id"])
        if found is None:
            return web.json_response({"message": "Not found"}, status=404)
        return web.Response(body=found[0], content_type=found[1])

    # -- rich menus ----------------------------------------------------------------------

    async def _create_menu(self, request: web.Request) -> web.Response:
        refused = await self._gate("richmenu", request)
        if refused is not None:
            return refused
        body = await request.json()
        size = body.get("size") or {}
        areas = body.get("areas") or []
        if size.get("width") not in MENU_WIDTHS or not 250 <= int(size.get("height", 0)) <= 1686:
            return await self._refuse("richmenu", 400, "Invalid rich menu size", body)
        if not 1 <= len(areas) <= MAX_MENU_AREAS:
            return await self._refuse("richmenu", 400, "Size must be between 1 and 20", body)
        if not 1 <= len(body.get("chatBarText", "")) <= MAX_CHAT_BAR_TEXT:
            return await self._refuse("richmenu", 400, "Length must be between 1 and 14", body)
        menu_id = f"richmenu-{uuid.uuid4().hex}"
        self.rich_menus[menu_id] = {**body, "richMenuId": menu_id}
        return web.json_response({"richMenuId": menu_id})

    async def _list_menus(self, request: web.Request) -> web.Response:
        refused = await self._gate("richmenu", request)
        if refused is not None:
            return refused
        return web.json_response({"richmenus": list(self.rich_menus.values())})

    async def _delete_menu(self, request: web.Request) -> web.Response:
        refused = await self._gate("richmenu", request)
        if refused is not None:
            return refused
        menu_id = request.match_info["menu_id"]
        if self.rich_menus.pop(menu_id, None) is None:
            return web.json_response({"message": "Not found"}, status=404)
        self.rich_menu_images.pop(menu_id, None)
        if self.default_rich_menu == menu_id:
            self.default_rich_menu = None
        self.user_menus = {u: m for u, m in self.user_menus.items() if m != menu_id}
        return web.json_response({})

    async def _menu_image(self, request: web.Request) -> web.Response:
        refused = await self._gate("richmenu", request)
        if refused is not None:
            return refused
        menu_id = request.match_info["menu_id"]
        if menu_id not in self.rich_menus:
            return web.json_response({"message": "Not found"}, status=404)
        media_type = request.headers.get("Content-Type", "")
        if media_type not in ("image/png", "image/jpeg"):
            return web.json_response({"message": "Unsupported image type"}, status=415)
        if menu_id in self.rich_menu_images:
            message = {"message": "An image has already been uploaded"}
            return web.json_response(message, status=400)
        self.rich_menu_images[menu_id] = (await request.read(), media_type)
        return web.json_response({})

    async def _set_default_menu(self, request: web.Request) -> web.Response:
        refused = await self._gate("richmenu", request)
        if refused is not None:
            return refused
        menu_id = request.match_info["menu_id"]
        if menu_id not in self.rich_menu_images:
            return web.json_response({"message": "must upload richmenu image"}, status=400)
        self.default_rich_menu = menu_id
        return web.json_response({})

    async def _cancel_default_menu(self, request: web.Request) -> web.Response:
        refused = await self._gate("richmenu", request)
        if refused is not None:
            return refused
        self.default_rich_menu = None
        return web.json_response({})

    async def _link_menu(self, request: web.Request) -> web.Response:
        refused = await self._gate("link", request)
        if refused is not None:
            return refused
        user_id, menu_id = request.match_info["user_id"], request.match_info["menu_id"]
        if menu_id not in self.rich_menu_images:
            return web.json_response({"message": "must upload richmenu image"}, status=400)
        self.user_menus[user_id] = menu_id
        self.menu_calls.append(("link", user_id, menu_id))
        await self.changed()
        return web.json_response({})

    async def _unlink_menu(self, request: web.Request) -> web.Response:
        refused = await self._gate("unlink", request)
        if refused is not None:
            return refused
        user_id = request.match_info["user_id"]
        self.user_menus.pop(user_id, None)
        self.menu_calls.append(("unlink", user_id, None))
        await self.changed()
        return web.json_response({})

    # -- quota, bot info, read marks --------------------------------------------------

    async def _quota(self, request: web.Request) -> web.Response:
        refused = await self._gate("quota", request)
        if refused is not None:
            return refused
        self.quota_requests += 1
        return web.json_response(self.quota)

    async def _consumption(self, request: web.Request) -> web.Response:
        refused = await self._gate("consumption", request)
        if refused is not None:
            return refused
        return web.json_response({"totalUsage": self.pushes_this_month() + self.usage_offset})

    async def _bot_info(self, request: web.Request) -> web.Response:
        refused = await self._gate("info", request)
        if refused is not None:
            return refused
        return web.json_response(self.bot_info)

    async def _mark_read(self, request: web.Request) -> web.Response:
        refused = await self._gate("mark_read", request)
        if refused is not None:
            return refused
        body = await request.json()
        token = body.get("markAsReadToken")
        if not isinstance(token, str) or not token:
            return await self._refuse("mark_read", 400, "markAsReadToken is required", body)
        self.read_tokens.append(token)
        await self.changed()
        return web.json_response({})

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _sent_ids(messages: list[Any]) -> list[dict[str, str]]:
        return [
            {"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages
        ]

"""The Slack channel as the app factory sees it: a route, a sender, a desk, start/stop."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

import aiohttp
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.channel_catalog import ChannelCatalog
from bot.errors import StorageUnavailable
from bot.faq import FaqLibrary
from bot.inbox import Inbox
from bot.records import RecordStore
from bot.settings import Settings
from bot.storage import Keys
from bot.store.conversations import RedisConversationStore
from channels.base import ChannelDefaults
from channels.slack.desk import SlackDesk
from channels.slack.errors import TypedDesk
from channels.slack.events import register
from channels.slack.masking import desk_client
from channels.slack.sender import SlackSender
from channels.slack.settings import NAME, SlackSettings
from channels.slack.users import SlackUsers
from handoff.agents import AgentActions

log = logging.getLogger("tsunagu.slack")


class SlackParts(Protocol):
    """The runtime parts the Slack channel uses (`bot.composition.runtime.Runtime` has them all)."""

    settings: Settings
    redis: Redis
    keys: Keys
    inbox: Inbox
    store: RedisConversationStore
    agents: AgentActions
    faq: FaqLibrary
    records: RecordStore
    catalog: ChannelCatalog


class SlackChannel(ChannelDefaults):
    """Slack as a customer channel (direct messages) and as the agents' desk."""

    name = NAME

    def __init__(self, parts: SlackParts, settings: SlackSettings):
        self.settings = settings
        core = parts.settings
        self.client = AsyncWebClient(token=self.settings.bot_token, base_url=self.settings.base_url)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=self.settings.signing_secret or "",
            name="tsunagu",
            logger=logging.getLogger("tsunagu.slack.bolt"),
            # Listeners run after the acknowledgement: Slack's 3 seconds are never at risk.
            process_before_response=False,
            before_authorize=self._reachable,
        )
        self._authorized = False
        self.users = SlackUsers(
            self.client, parts.redis, parts.keys.prefix, self.settings.user_cache_seconds
        )
        self.sender = SlackSender(
            self.client, parts.redis, parts.keys, ttl_seconds=core.dedupe_ttl_seconds
        )
        self.desk = SlackDesk(
            desk_client(self.client, mask=core.pii_mask_slack),
            parts.redis,
            key_prefix=parts.keys.prefix,
            handoff_channel=self.settings.handoff_channel,
            store=parts.store,
            agents=parts.agents,
            faq=parts.faq,
            records=parts.records,
            name_of=self.users.name_of,
            transcript_lines=self.settings.transcript_lines,
            ttl_seconds=core.conversation_ttl_seconds,
            dedupe_ttl_seconds=core.dedupe_ttl_seconds,
            channel_labels=parts.catalog.label_map("en"),
        )
        # What the dispatcher notifies: the desk, its failures typed.
        self.notices = TypedDesk(self.desk)
        self.agent_desk = self.notices
        register(
            self.app,
            inbox=parts.inbox,
            desk=self.desk,
            redis=parts.redis,
            key_prefix=parts.keys.prefix,
            dedupe_ttl_seconds=core.dedupe_ttl_seconds,
        )
        self.router = APIRouter(tags=["slack channel"])
        self._socket: AsyncSocketModeHandler | None = None
        if self.settings.signing_secret:
            # Without a signing secret nobody could be verified: no public route at all.
            handler = AsyncSlackRequestHandler(self.app)
            verifier = SignatureVerifier(self.settings.signing_secret)

            async def slack_events(request: Request) -> Response:
                """Slack's Events API and interactivity (verified with the signing secret)."""
                # Verified here first (constant-time, timestamps older than 5 minutes refused
                # as replays), then shape-checked: bolt itself fails on a body that is not
                # an object, so such a body never reaches it.
                body = await request.body()
                try:
                    valid = verifier.is_valid_request(body, dict(request.headers))
                except ValueError:  # a timestamp that is not a number
                    valid = False
                if not valid:
                    log.warning("slack: request with a bad signature or timestamp refused")
                    return JSONResponse({"detail": "invalid signature"}, status_code=401)
                problem = _body_problem(body, request.headers.get("content-type", ""))
                if problem is not None:
                    log.warning("slack: malformed request refused", extra={"problem": problem})
                    return JSONResponse(
                        {"detail": "malformed Slack request", "problem": problem}, status_code=400
                    )
                try:
                    response = await handler.handle(request)
                except StorageUnavailable:
                    raise  # the app answers 503: Slack retries
                except Exception as exc:
                    # bolt could not even read the request: Slack never sends such a thing.
                    log.warning("slack: unreadable request refused", extra={"error": repr(exc)})
                    return JSONResponse({"detail": "malformed Slack request"}, status_code=400)
                if response.status_code == 500:
                    # bolt answers 500 when one of its middlewares fails on odd input; the
                    # storage failures that deserve a retry answer 503 (events.py).
                    return JSONResponse({"detail": "malformed Slack request"}, status_code=400)
                return response

            self.router.add_api_route(
                self.settings.events_path, slack_events, methods=["POST"], include_in_schema=False
            )

    async def _reachable(
        self, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Answer 503 when Slack cannot tell bolt who the bot is (its first `auth.test`).

        bolt authorizes each request with one `auth.test` (then remembered). When Slack's API
        cannot be reached or fails, bolt answered 500 (which became "malformed", 400) or 200
        with a "reinstall the app" text: either way a valid event or click was lost with a
        misleading message. A 503 says the fault is on this side: Slack redelivers events;
        a click is not redelivered, and Slack shows its author that it failed.
        """
        if self._authorized or not _needs_authorization(body):
            await next()
            return None
        try:
            await self.client.auth_test()
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if status >= 500 or status == 429:
                cause = f"Slack's API answered auth.test with HTTP {status}"
                log.warning("slack: request not authorized, answered 503", extra={"cause": cause})
            else:  # the token itself is refused: only a person can fix that
                cause = f"Slack refused the bot token in auth.test ({error or status})"
                log.error("slack: request not authorized, answered 503", extra={"cause": cause})
            return BoltResponse(status=503, body=f"not authorized: {cause}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            cause = f"Slack's API unreachable: {exc!r}"
            log.warning("slack: request not authorized, answered 503", extra={"cause": cause})
            return BoltResponse(status=503, body="not authorized: Slack's API unreachable")
        self._authorized = True
        await next()
        return None

    async def start(self) -> None:
        """Open the Socket Mode connection when an app-level token is set."""
        if self.settings.socket_mode:
            self._socket = AsyncSocketModeHandler(self.app, self.settings.app_token)
            await self._socket.connect_async()
        log.info(
            "slack channel started",
            extra={
                "mode": "socket" if self._socket else "http",
                "desk": bool(self.settings.handoff_channel),
            },
        )

    async def stop(self) -> None:
        """Close the Socket Mode connection."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None


# Requests bolt lets through without asking Slack who the bot is (bolt's own rule).
_NO_AUTH_TYPES = ("url_verification", "ssl_check")
_NO_AUTH_TEST_EVENTS = ("app_uninstalled", "tokens_revoked")


def _needs_authorization(body: dict[str, Any]) -> bool:
    """Whether bolt will call `auth.test` for this request if it has not yet."""
    if body.get("type") in _NO_AUTH_TYPES:
        return False
    event = body.get("event")
    return not (isinstance(event, dict) and event.get("type") in _NO_AUTH_TEST_EVENTS)


def _body_problem(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not something Slack sends, or None when it is well formed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    try:
        if "application/json" in content_type or text.lstrip().startswith("{"):
            document: object = json.loads(text)
        else:
            form = parse_qs(text)
            if "payload" not in form:
                return None  # a form without a payload (slash commands): bolt reads it
            document = json.loads(form["payload"][0])
    except (ValueError, RecursionError) as exc:
        return f"not JSON: {exc}"
    if not isinstance(document, dict):
        return "not a JSON object"
    if not isinstance(document.get("type"), str):
        return "'type' is missing or not a string"
    if "event" in document:
        event = document["event"]
        if not isinstance(event, dict):
            return "'event' is not an object"
        if not isinstance(event.get("type"), str):
            return "the event's 'type' is missing or not a string"
    return _interaction_problem(document)


# Parts of an interaction payload that Slack always sends as objects when it sends them;
# bolt indexes into them before any listener runs, and fails with a traceback otherwise.
_OBJECT_PARTS = ("user", "team", "channel", "container", "message", "view", "enterprise")


def _interaction_problem(document: dict[str, object]) -> str | None:
    """Why an interaction payload (a click, a form) has a shape Slack never sends."""
    for part in _OBJECT_PARTS:
        if document.get(part) is not None and not isinstance(document[part], dict):
            return f"'{part}' is not an object"
    actions = document.get("actions")
    if actions is None and document["type"] != "block_actions":
        return None
    if not isinstance(actions, list) or not actions:
        return "'actions' is not a list of actions"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action is not an object with a string 'action_id'"
    return None

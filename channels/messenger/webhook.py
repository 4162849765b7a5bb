"""The webhook routes Meta calls: the `GET` handshake and the signed `POST` of events."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from channels.messenger.events import MalformedWebhook, MetaEvent, read_webhook
from channels.messenger.settings import MetaAccount
from channels.messenger.surface import Surface

log = logging.getLogger("tsunagu.messenger")

EventsHandler = Callable[[list[MetaEvent]], Awaitable[None]]
SIGNATURE_HEADER = "x-hub-signature-256"


def sign(secret: str, body: bytes) -> str:
    """X-Hub-Signature-256 of `body`: `sha256=` and the hex HMAC-SHA256 keyed by the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the body's signature with this app secret (constant time)."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().lower().encode())


def handshake_ok(account: MetaAccount, mode: str | None, token: str | None) -> bool:
    """True for Meta's subscription check: mode `subscribe` and our verify token."""
    if mode != "subscribe" or not account.verify_token or token is None:
        return False
    return hmac.compare_digest(token.encode(), account.verify_token.encode())


def build_router(surface: Surface, account: MetaAccount, on_events: EventsHandler) -> APIRouter:
    """`GET` and `POST` on the account's webhook path."""
    router = APIRouter(tags=[f"{surface.name} channel"])

    @router.get(account.webhook_path, response_class=PlainTextResponse)
    async def verify_subscription(request: Request) -> Response:
        """Meta's handshake when the webhook is set up: echo `hub.challenge` if the
        verify token is ours."""
        query = request.query_params
        if not handshake_ok(account, query.get("hub.mode"), query.get("hub.verify_token")):
            log.warning("%s: webhook handshake with a wrong verify token refused", surface.name)
            return PlainTextResponse("verify token mismatch", status_code=403)
        return PlainTextResponse(
            query.get("hub.challenge", ""), headers={"X-Content-Type-Options": "nosniff"}
        )

    @router.post(account.webhook_path)
    async def receive_events(request: Request) -> JSONResponse:
        """Receive Meta's events: verify, hand them to the inbox, answer 200 at once."""
        body = await request.body()
        if not signature_ok(account.app_secret, body, request.headers.get(SIGNATURE_HEADER, "")):
            log.warning("%s: webhook with a bad or missing signature refused", surface.name)
            return JSONResponse({"detail": "invalid signature"}, status_code=401)
        try:
            events = read_webhook(json.loads(body), surface)
        except (ValueError, RecursionError) as exc:
            # ValueError: not JSON, or MalformedWebhook; RecursionError: nested too deep.
            problem = str(exc) if isinstance(exc, MalformedWebhook) else "the body is not JSON"
            return JSONResponse(
                {"detail": "malformed webhook body", "problem": problem}, status_code=400
            )
        await on_events(events)
        return JSONResponse({})

    return router

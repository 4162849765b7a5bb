"""The LINE routes: the webhook, and signed links to the content customers send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from linebot.v3.messaging import ApiException

from channels.line.client import LineApi
from channels.line.events import content_signature
from channels.line.settings import LineSettings

log = logging.getLogger("tsunagu.line")

EventsHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]


def signature_ok(secret: str, body: bytes, signature: str) -> bool:
    """X-Line-Signature: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    if not secret or not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode())


def build_router(settings: LineSettings, api: LineApi, on_events: EventsHandler) -> APIRouter:
    """`POST <LINE_WEBHOOK_PATH>` and `GET <content path>/{message_id}`."""
    router = APIRouter(tags=["line channel"])
    secret = settings.channel_secret or ""

    async def line_webhook(request: Request) -> JSONResponse:
        """Receive LINE's events: verify, hand them to the inbox, answer 200 at once."""
        body = await request.body()
        if not signature_ok(secret, body, request.headers.get("x-line-signature", "")):
            log.warning("line: webhook with a bad or missing signature refused")
            return JSONResponse({"detail": "invalid signature"}, status_code=401)
        try:
            document = json.loads(body)
            events = document["events"]
            if not isinstance(events, list):
                raise TypeError("events is not a list")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the parser goes (never from LINE).
            return JSONResponse(
                {"detail": "malformed webhook body", "problem": str(exc)}, status_code=400
            )
        # An empty list is LINE's "Verify" button (and a connection check): just 200.
        await on_events([event for event in events if isinstance(event, dict)])
        return JSONResponse({})

    # A plain route: the body is read and checked here, so FastAPI's per-request work
    # (dependencies, parameters, answer serialisation) would be spent on nothing.
    router.add_route(settings.webhook_path, line_webhook, methods=["POST"])

    @router.get(settings.content_path + "/{message_id}", include_in_schema=False)
    async def line_content(message_id: str, sig: str = "") -> Response:
        """An image, video, audio or file a customer sent, for the agent to look at."""
        if not hmac.compare_digest(content_signature(secret, message_id), sig):
            return JSONResponse({"detail": "invalid link"}, status_code=403)
        try:
            data, media_type = await api.content(message_id)
        except ApiException as exc:
            status = 404 if exc.status in (400, 404, 410) else 502
            return JSONResponse({"detail": "content unavailable"}, status_code=status)
        except Exception as exc:
            log.warning("line: content download failed", extra={"error": repr(exc)})
            return JSONResponse({"detail": "content unavailable"}, status_code=502)
        return Response(data, media_type=media_type, headers={"Cache-Control": "private"})

    return router

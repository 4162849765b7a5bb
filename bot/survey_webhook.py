"""Outgoing webhooks: every survey response is POSTed, signed, to the admin's URL.

The body is the response as JSON. `X-Tsunagu-Signature: sha256=<hex>` is the HMAC-SHA256
of the raw body with `SURVEY_WEBHOOK_SECRET`; `X-Tsunagu-Delivery` is stable across retries
so a receiver can drop duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import httpx

from bot.records import SurveyResponse

log = logging.getLogger("tsunagu.webhooks")


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SurveyWebhook:
    """POSTs survey responses to one URL, retrying briefly on failure."""

    def __init__(self, url: str, secret: str, *, attempts: int = 4, timeout: float = 5.0):
        self.url = url
        self.secret = secret
        self.attempts = attempts
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, response: SurveyResponse) -> None:
        """Deliver one response; raises after the last attempt so the event is retried."""
        body = response.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            "X-Tsunagu-Signature": sign(self.secret, body),
            "X-Tsunagu-Delivery": f"{response.conversation_id}:{response.question}",
        }
        for attempt in range(1, self.attempts + 1):
            try:
                reply = await self._client.post(self.url, content=body, headers=headers)
                if reply.status_code < 500 and reply.status_code != 429:
                    if reply.status_code >= 400:
                        log.error("survey webhook refused", extra={"status": reply.status_code})
                    return
            except httpx.HTTPError as exc:
                log.warning("survey webhook failed", extra={"error": str(exc)})
            if attempt < self.attempts:
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))
        raise RuntimeError("survey webhook unreachable")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

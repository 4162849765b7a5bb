"""The Send API over one long-lived HTTP client (httpx), with Graph API errors read once.

`POST {api_base_url}/{account_id}/messages` with the access token in the Authorization
header (not the URL, which ends up in logs). A refusal comes back as
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`, raised here as a
`GraphError`; what it means for the message is decided in `channels.messenger.failures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from channels.messenger.settings import MetaAccount
from channels.messenger.window import SendAs


@dataclass
class GraphError(Exception):
    """A Graph API refusal: HTTP status, Meta's error code and subcode, its message."""

    status: int
    code: int | None
    subcode: int | None
    message: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"HTTP {self.status}, code {self.code}/{self.subcode}: {self.message}"


class SendApi:
    """Sends one message per call to a customer, as the configured Page or account."""

    def __init__(self, account: MetaAccount):
        self.account = account
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        """Create the HTTP client (kept for the life of the process)."""
        limit = self.account.max_connections
        self._client = httpx.AsyncClient(
            base_url=self.account.api_base_url,
            headers={"Authorization": f"Bearer {self.account.access_token}"},
            timeout=self.account.request_timeout_seconds,
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, recipient_id: str, message: dict[str, Any], how: SendAs) -> str:
        """Send `message` to the customer; returns Meta's message id. Raises `GraphError`
        for a refusal and httpx's errors when Meta does not answer."""
        if self._client is None:
            await self.open()
        assert self._client is not None
        body: dict[str, Any] = {
            "recipient": {"id": recipient_id},
            "messaging_type": how.messaging_type,
            "message": message,
        }
        if how.tag is not None:
            body["tag"] = how.tag
        response = await self._client.post(f"/{self.account.account_id}/messages", json=body)
        if response.status_code >= 400:
            raise graph_error(response)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return str(answer.get("message_id", "")) if isinstance(answer, dict) else ""

    async def profile(self, user_id: str, fields: str) -> dict[str, Any]:
        """The customer's profile fields (User Profile API); raises `GraphError` when Meta
        refuses (no permission, unknown user) and httpx's errors when it does not answer."""
        if self._client is None:
            await self.open()
        assert self._client is not None
        response = await self._client.get(f"/{user_id}", params={"fields": fields})
        if response.status_code >= 400:
            raise graph_error(response)
        answer = response.json()
        return answer if isinstance(answer, dict) else {}


def graph_error(response: httpx.Response) -> GraphError:
    """The `GraphError` of a refused call (whatever shape its body has)."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    return GraphError(
        status=response.status_code,
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        message=str(error.get("message") or response.text[:200] or response.reason_phrase),
        retry_after=_seconds(response.headers.get("retry-after")),
    )


def _int(value: object) -> int | None:
    try:
        return int(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    except ValueError:
        return None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None

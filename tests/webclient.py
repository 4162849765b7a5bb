"""A web customer, as the widget would be: start, send, and read the message stream."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx


class WebCustomer:
    """Drives the public web API over real HTTP."""

    def __init__(self, http: httpx.AsyncClient, token: str, user_id: str):
        self.http = http
        self.token = token
        self.user_id = user_id
        self.cursor: str | None = None
        self.seen: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, http: httpx.AsyncClient, locale: str = "ja") -> WebCustomer:
        """Open a conversation and keep its token."""
        response = await http.post("/web/conversations", json={"locale": locale})
        response.raise_for_status()
        body = response.json()
        return cls(http, body["token"], body["user_id"])

    @property
    def auth(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.token}"}

    async def say(self, text: str, client_id: str | None = None) -> httpx.Response:
        """Type a message."""
        body = {"text": text, "client_id": client_id or uuid.uuid4().hex}
        return await self.http.post("/web/messages", json=body, headers=self.auth)

    async def tap(self, choice: dict[str, str]) -> httpx.Response:
        """Tap a choice button."""
        body = {
            "choice": choice["payload"],
            "label": choice["label"],
            "client_id": uuid.uuid4().hex,
        }
        return await self.http.post("/web/messages", json=body, headers=self.auth)

    async def poll(self, wait: float = 0) -> list[dict[str, Any]]:
        """New messages since the last poll."""
        params: dict[str, Any] = {"wait": wait}
        if self.cursor:
            params["after"] = self.cursor
        response = await self.http.get("/web/messages", params=params, headers=self.auth)
        response.raise_for_status()
        body = response.json()
        self.cursor = body["cursor"]
        self.seen.extend(body["messages"])
        self._unread.extend(body["messages"])
        return list(body["messages"])

    async def next_from(
        self, sender: str = "bot", timeout: float = 30.0, kind: str | None = None
    ) -> dict[str, Any]:
        """The next unread message from `sender` (of `kind`, if given), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._unread:
                message = self._unread.pop(0)
                if message["sender"] == sender and kind in (None, message["kind"]):
                    return message
            if loop.time() >= deadline:
                raise AssertionError(f"no message from {sender} within {timeout}s: {self.seen}")
            await self.poll(wait=min(2.0, max(0.1, deadline - loop.time())))

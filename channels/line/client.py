"""The Messaging API through line-bot-sdk's async client, pointed at configurable hosts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)

from channels.line.settings import LineSettings


@dataclass(frozen=True)
class Profile:
    """What we use of a LINE user's profile."""

    display_name: str | None = None
    language: str | None = None


class LineApi:
    """The few Messaging API calls Tsunagu makes, each bounded by a timeout."""

    def __init__(self, settings: LineSettings):
        self.settings = settings
        self._clients: list[Any] = []
        self._api: Any = None
        self._blob: Any = None

    async def open(self) -> None:
        """Create the HTTP sessions (inside the running event loop)."""
        token = self.settings.channel_access_token
        api, data = (
            Configuration(host=url.rstrip("/"), access_token=token)
            for url in (self.settings.api_base_url, self.settings.data_api_base_url)
        )
        # The SDK's default is 5 connections per CPU: on a small machine a slow LINE would
        # make every other customer's reply queue behind the slow calls.
        api.connection_pool_maxsize = data.connection_pool_maxsize = self.settings.max_connections
        api_client, data_client = AsyncApiClient(api), AsyncApiClient(data)
        self._clients = [api_client, data_client]
        self._api = AsyncMessagingApi(api_client)
        self._blob = AsyncMessagingApiBlob(data_client)

    async def close(self) -> None:
        """Close the HTTP sessions."""
        for client in self._clients:
            await client.close()
        self._clients = []

    @property
    def timeout(self) -> float:
        """Longest wait for one call."""
        return self.settings.request_timeout_seconds

    async def reply(self, reply_token: str, messages: list[TextMessage]) -> None:
        """Answer with a reply token (free of the monthly quota; each token works once)."""
        request = ReplyMessageRequest(replyToken=reply_token, messages=messages)
        await asyncio.wait_for(self._api.reply_message(request), self.timeout)

    async def push(self, to: str, messages: list[TextMessage], retry_key: str) -> None:
        """Push messages; LINE accepts one request per retry key (a repeat gets 409)."""
        request = PushMessageRequest(to=to, messages=messages)
        await asyncio.wait_for(
            self._api.push_message(request, x_line_retry_key=retry_key), self.timeout
        )

    async def show_loading(self, chat_id: str, seconds: int) -> None:
        """Show the loading animation in a one-to-one chat (ends when a message arrives)."""
        request = ShowLoadingAnimationRequest(chatId=chat_id, loadingSeconds=seconds)
        await asyncio.wait_for(self._api.show_loading_animation(request), self.timeout)

    async def profile(self, user_id: str) -> Profile:
        """The user's display name and language (raises ApiException 404 if unknown)."""
        response = await asyncio.wait_for(self._api.get_profile(user_id), self.timeout)
        return Profile(display_name=response.display_name, language=response.language)

    async def content(self, message_id: str) -> tuple[bytes, str]:
        """The bytes and content type of an image, video, audio or file a user sent."""
        response = await asyncio.wait_for(
            self._blob.get_message_content_with_http_info(message_id), self.timeout
        )
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        media_type = headers.get("content-type", "application/octet-stream")
        return bytes(response.data or b""), media_type

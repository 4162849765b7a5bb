"""The Messaging API through line-bot-sdk's async client, pointed at configurable hosts."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    MarkMessagesAsReadByTokenRequest,
    RichMenuRequest,
    TextMessage,
)
from yarl import URL

from channels.line.settings import LineSettings


@dataclass(frozen=True)
class Profile:
    """What we use of a LINE user's profile."""

    display_name: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Quota:
    """The account's monthly message quota and what it has used this month."""

    limit: int | None  # None: no limit (type "none")
    used: int


@dataclass(frozen=True)
class BotInfo:
    """What we use of the bot's own settings in the LINE Official Account Manager."""

    display_name: str
    chat_mode: str  # "chat": LINE's own chat is on; "bot": it is off
    mark_as_read_mode: str  # "auto": LINE marks every message read at once; "manual"


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
        for configuration in (api, data):
            _use_env_proxy(configuration)
        api_client, data_client = AsyncApiClient(api), AsyncApiClient(data)
        for client in (api_client, data_client):
            _without_env_lookups(client)
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
        body = {"replyToken": reply_token, "messages": _bodies(messages)}
        async with asyncio.timeout(self.timeout):
            await self._call("POST", "/v2/bot/message/reply", body=body)

    async def push(self, to: str, messages: list[TextMessage], retry_key: str) -> None:
        """Push messages; LINE accepts one request per retry key (a repeat gets 409)."""
        body = {"to": to, "messages": _bodies(messages)}
        async with asyncio.timeout(self.timeout):
            await self._call(
                "POST", "/v2/bot/message/push", body=body, headers={"X-Line-Retry-Key": retry_key}
            )

    async def show_loading(self, chat_id: str, seconds: int) -> None:
        """Show the loading animation in a one-to-one chat (ends when a message arrives)."""
        body = {"chatId": chat_id, "loadingSeconds": seconds}
        async with asyncio.timeout(self.timeout):
            await self._call("POST", "/v2/bot/chat/loading/start", body=body)

    async def profile(self, user_id: str) -> Profile:
        """The user's display name and language (raises ApiException 404 if unknown)."""
        async with asyncio.timeout(self.timeout):
            raw = await self._call("GET", f"/v2/bot/profile/{quote(user_id, safe='')}")
        data = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            data = {}
        name, language = data.get("displayName"), data.get("language")
        return Profile(
            display_name=name if isinstance(name, str) else None,
            language=language if isinstance(language, str) else None,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """One Messaging API call through the SDK's lower layer (`AsyncApiClient.call_api`,
        the same session, authentication, errors as `ApiException` and `Retry-After`);
        returns the answer's body.

        The SDK's generated methods cost more Python than the HTTP call itself on the
        calls made for every event: pydantic-v1 `validate_arguments` on every call, the
        request model validated again, the answer parsed into a model nobody reads. The
        bodies here are the SDK models' own `to_dict()`, so what LINE gets is the same.
        """
        header_params = {"Accept": "application/json", "Content-Type": "application/json"}
        if headers:
            header_params.update(headers)
        response = await self._api.api_client.call_api(
            path,
            method,
            None,
            None,
            header_params,
            body=body,
            response_types_map={},
            auth_settings=["Bearer"],
            _return_http_data_only=False,
        )
        return str(response.raw_data or "")

    async def content(self, message_id: str) -> tuple[bytes, str]:
        """The bytes and content type of an image, video, audio or file a user sent."""
        async with asyncio.timeout(self.timeout):
            response = await self._blob.get_message_content_with_http_info(message_id)
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        media_type = headers.get("content-type", "application/octet-stream")
        return bytes(response.data or b""), media_type

    # -- rich menus ------------------------------------------------------------------

    async def create_rich_menu(self, menu: RichMenuRequest, image: bytes) -> str:
        """Create a rich menu and upload its PNG image; returns its id."""
        response = await asyncio.wait_for(self._api.create_rich_menu(menu), self.timeout)
        menu_id = str(response.rich_menu_id)
        await asyncio.wait_for(
            self._blob.set_rich_menu_image(menu_id, image, _headers={"Content-Type": "image/png"}),
            self.timeout,
        )
        return menu_id

    async def rich_menu_ids(self) -> list[tuple[str, str]]:
        """(id, name) of every rich menu of the account."""
        response = await asyncio.wait_for(self._api.get_rich_menu_list(), self.timeout)
        return [(m.rich_menu_id, m.name) for m in response.richmenus or []]

    async def delete_rich_menu(self, menu_id: str) -> None:
        """Delete a rich menu (its links and the default go with it)."""
        await asyncio.wait_for(self._api.delete_rich_menu(menu_id), self.timeout)

    async def set_default_rich_menu(self, menu_id: str) -> None:
        """Show this rich menu to every user without a menu of their own."""
        await asyncio.wait_for(self._api.set_default_rich_menu(menu_id), self.timeout)

    async def link_rich_menu(self, user_id: str, menu_id: str) -> None:
        """Show this rich menu to one user (instead of the default)."""
        await asyncio.wait_for(self._api.link_rich_menu_id_to_user(user_id, menu_id), self.timeout)

    async def unlink_rich_menu(self, user_id: str) -> None:
        """Give the user the default rich menu back."""
        await asyncio.wait_for(self._api.unlink_rich_menu_id_from_user(user_id), self.timeout)

    # -- cost, settings, read marks --------------------------------------------------

    async def quota(self) -> Quota:
        """This month's quota (`GET /v2/bot/message/quota`) and what was used of it
        (`GET /v2/bot/message/quota/consumption`)."""
        limit = await asyncio.wait_for(self._api.get_message_quota(), self.timeout)
        used = await asyncio.wait_for(self._api.get_message_quota_consumption(), self.timeout)
        limited = _plain(limit.type) == "limited"
        return Quota(limit=limit.value if limited else None, used=int(used.total_usage or 0))

    async def bot_info(self) -> BotInfo:
        """The bot's chat settings (`GET /v2/bot/info`)."""
        info = await asyncio.wait_for(self._api.get_bot_info(), self.timeout)
        return BotInfo(
            display_name=str(info.display_name),
            chat_mode=_plain(info.chat_mode),
            mark_as_read_mode=_plain(info.mark_as_read_mode),
        )

    async def mark_read(self, mark_as_read_token: str) -> None:
        """Mark the customer's messages read up to the one that carried this token
        (`POST /v2/bot/chat/markAsRead`): they see 既読."""
        request = MarkMessagesAsReadByTokenRequest(markAsReadToken=mark_as_read_token)
        await asyncio.wait_for(self._api.mark_messages_as_read_by_token(request), self.timeout)


def _bodies(messages: list[TextMessage]) -> list[dict[str, Any]]:
    """The messages as LINE's JSON has them (the SDK models' own serialisation)."""
    return [message.to_dict() for message in messages]


def _plain(value: Any) -> str:
    """An SDK enum's value, or the string itself."""
    return str(getattr(value, "value", value))


def _use_env_proxy(configuration: Configuration) -> None:
    """Honour `HTTPS_PROXY`/`NO_PROXY` (and their proxy's .netrc credentials), read once."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(configuration.host))
    except LookupError:
        return
    configuration.proxy = str(proxy)
    if auth is not None:
        configuration.proxy_headers = {"Proxy-Authorization": auth.encode()}


def _without_env_lookups(client: AsyncApiClient) -> None:
    """Give the client's one long-lived session `trust_env=False`.

    The SDK's session trusts the environment, which makes aiohttp read `~/.netrc` in a
    thread and look the proxy variables up again on every request; the proxy is read once
    by `_use_env_proxy` instead. The connection pool is kept as the SDK made it.
    """
    rest = client.rest_client
    connector = rest.pool_manager.connector
    rest.pool_manager.detach()
    rest.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=False)

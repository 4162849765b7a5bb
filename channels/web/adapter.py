"""The web channel as the app factory sees it: routes, static widget, sender."""

from __future__ import annotations

from importlib import resources
from typing import Protocol

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from redis.asyncio import Redis

from bot.channel_catalog import ChannelCatalog
from bot.identity import Linking
from bot.inbox import Inbox
from bot.model import Outgoing, ReplyKind
from bot.settings import Settings
from bot.storage import Keys
from channels.base import ChannelDefaults
from channels.web.outbox import WebMessage, WebOutbox
from channels.web.router import build_router, web_customer_key
from channels.web.settings import NAME
from channels.web.tokens import WebTokens, shared_secret

STATIC = resources.files("channels.web").joinpath("static")


class WebSender:
    """Delivers replies into the customer's web message stream."""

    channel = NAME

    def __init__(self, outbox: WebOutbox):
        self._outbox = outbox

    async def send(self, batch: list[Outgoing]) -> None:
        """Append each reply once, whatever the number of attempts."""
        for outgoing in batch:
            reply = outgoing.reply
            is_agent = reply.kind is ReplyKind.AGENT
            await self._outbox.append(
                web_customer_key(outgoing.user_id),
                WebMessage(
                    message_id=outgoing.message_id,
                    sender="agent" if is_agent else "bot",
                    sender_name=reply.sender if is_agent else None,
                    kind=reply.kind.value,
                    text=reply.text,
                    choices=reply.choices,
                    time=outgoing.created_at,
                    faq_id=reply.faq_id,
                ),
            )


class WebParts(Protocol):
    """The runtime parts the web channel uses (`bot.composition.runtime.Runtime`)."""

    settings: Settings
    redis: Redis
    keys: Keys
    inbox: Inbox
    linking: Linking
    catalog: ChannelCatalog


class WebChannel(ChannelDefaults):
    """The web widget's API, the widget itself and the demo page."""

    name = NAME

    def __init__(self, parts: WebParts):
        settings = parts.settings
        self._redis, self._keys, self._secret = parts.redis, parts.keys, settings.secret_key
        self.tokens = WebTokens(settings.web_token_ttl_seconds)
        self.outbox = WebOutbox(
            parts.redis,
            parts.keys,
            ttl_seconds=settings.conversation_ttl_seconds,
            ttl_without_reply_seconds=settings.conversation_ttl_without_reply_seconds,
        )
        self.sender = WebSender(self.outbox)
        self.router = APIRouter()
        self.router.include_router(
            build_router(parts.inbox, self.outbox, self.tokens, parts.linking, parts.catalog)
        )
        self.router.add_api_route("/widget.js", _widget, include_in_schema=False)
        self.router.add_api_route("/", _demo_page, include_in_schema=False)

    async def start(self) -> None:
        """Agree on the token-signing secret, then listen for messages other processes
        append."""
        self.tokens.use_secret(await shared_secret(self._redis, self._keys.secret(), self._secret))
        await self.outbox.start()

    async def stop(self) -> None:
        """Stop the listener."""
        await self.outbox.stop()


async def _widget() -> Response:
    with resources.as_file(STATIC.joinpath("widget.js")) as path:
        return FileResponse(
            path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"}
        )


async def _demo_page() -> Response:
    with resources.as_file(STATIC.joinpath("index.html")) as path:
        return FileResponse(path, media_type="text/html")

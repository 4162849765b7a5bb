"""The web channel as the app factory sees it: routes, static widget, sender."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from bot.identity import Linking
from bot.inbox import Inbox
from bot.model import Channel, Outgoing, ReplyKind
from bot.storage import Keys
from channels.web.outbox import WebMessage, WebOutbox
from channels.web.router import build_router, web_customer_key
from channels.web.tokens import WebTokens

STATIC = resources.files("channels.web").joinpath("static")


class WebSender:
    """Delivers replies into the customer's web message stream."""

    channel = Channel.WEB

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


class WebChannel:
    """The web widget's API, the widget itself and the demo page."""

    name = "web"

    def __init__(
        self,
        inbox: Inbox,
        keys: Keys,
        tokens: WebTokens,
        *,
        ttl_seconds: int,
        ttl_without_reply_seconds: int | None = None,
        linking: Linking | None = None,
    ):
        self.outbox = WebOutbox(
            inbox.redis,
            keys,
            ttl_seconds=ttl_seconds,
            ttl_without_reply_seconds=ttl_without_reply_seconds,
        )
        self.sender = WebSender(self.outbox)
        self.router = APIRouter()
        self.router.include_router(build_router(inbox, self.outbox, tokens, linking))
        self.router.add_api_route("/widget.js", _widget, include_in_schema=False)
        self.router.add_api_route("/", _demo_page, include_in_schema=False)

    async def start(self) -> None:
        """Start listening for messages appended by other processes."""
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

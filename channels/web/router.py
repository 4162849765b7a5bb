"""The web API routes: start, send, and receive by WebSocket or long poll.

No `from __future__ import annotations` here: FastAPI reads the local `User` alias at
import time.
"""

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, WebSocket, status
from starlette.websockets import WebSocketDisconnect

from bot.channel_catalog import ChannelCatalog
from bot.identity import Linking
from bot.inbox import Inbox
from bot.limits import OpenSockets, WebLimits, client_ip
from bot.model import Inbound, InboundKind
from channels.web.linking import LinkCode, Linked, LinkRequest, issue_code, linked, redeem_code
from channels.web.outbox import WebMessage, WebOutbox, dump_message, is_cursor
from channels.web.schemas import (
    Accepted,
    ConversationStarted,
    MessagePage,
    SendMessage,
    StartConversation,
)
from channels.web.settings import NAME
from channels.web.tokens import TokenError, WebTokens

WS_PING_SECONDS = 20.0
WS_TOKEN_REFUSED = 4401
CURSOR_PROBLEM = "'after' must be a cursor from this API (ms-seq, each 0 to 2**64-1)"


def web_customer_key(user_id: str) -> str:
    """The customer key of a web user."""
    return f"{NAME}:{user_id}"


async def _wait_unless(waiting: Coroutine[Any, Any, bool], gone: asyncio.Event) -> bool:
    """Await `waiting`, but give up (False) as soon as `gone` is set."""
    waiter = asyncio.create_task(waiting)
    goner = asyncio.create_task(gone.wait())
    done, pending = await asyncio.wait({waiter, goner}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waiter in done and waiter.result()


def build_router(
    inbox: Inbox,
    outbox: WebOutbox,
    tokens: WebTokens,
    linking: Linking | None = None,
    catalog: ChannelCatalog | None = None,
) -> APIRouter:
    """The `/web/*` routes, bound to this process's inbox, outbox, token signer and the
    linking of channels (without it, the link routes answer 404); `catalog` names the
    linked channels for the widget."""
    names = catalog or ChannelCatalog()
    router = APIRouter(prefix="/web", tags=["web channel"])

    async def verified(token: str | None) -> str:
        """The customer a token names; raises `TokenError` if it is bad or revoked."""
        user_id = tokens.verify(token)
        if await inbox.redis.exists(inbox.keys.web_revoked(user_id)):
            raise TokenError("token revoked")
        return user_id

    async def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise TokenError("expected 'Authorization: Bearer <token>'")
            return await verified(token.strip())
        except TokenError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from exc

    User = Annotated[str, Depends(current_user)]

    def limits_of(request: Request) -> WebLimits | None:
        # Set by the app factory from the settings; a bare router has none.
        return getattr(request.app.state, "web_limits", None)

    async def ip_limited(request: Request) -> None:
        """Per client address: new conversations and messages (429 over the limit)."""
        limits = limits_of(request)
        if limits is not None:
            await limits.per_ip.check(client_ip(request), "requests from one address")

    async def customer_limited(request: Request, user_id: User) -> str:
        """Per customer token: messages sent (429 over the limit)."""
        limits = limits_of(request)
        if limits is not None:
            await limits.per_token.check(user_id, "messages from one customer")
        return user_id

    LimitedUser = Annotated[str, Depends(customer_limited)]

    @router.post(
        "/conversations",
        status_code=status.HTTP_201_CREATED,
        dependencies=[Depends(ip_limited)],
    )
    async def start_conversation(
        request: Request, body: StartConversation | None = None
    ) -> ConversationStarted:
        """Start a web conversation; the bot greets the customer on the message stream."""
        body = body or StartConversation()
        user_id = tokens.new_user_id()
        await inbox.put(
            Inbound(
                event_id=f"web:{user_id}:start",
                channel=NAME,
                user_id=user_id,
                kind=InboundKind.FOLLOW,
                locale=body.locale,
                display_name=body.name,
                origin=client_ip(request),
            )
        )
        return ConversationStarted(
            token=tokens.issue(user_id), user_id=user_id, expires_in=tokens.ttl_seconds
        )

    @router.post(
        "/messages", status_code=status.HTTP_202_ACCEPTED, dependencies=[Depends(ip_limited)]
    )
    async def send_message(request: Request, body: SendMessage, user_id: LimitedUser) -> Accepted:
        """Send the customer's text or choice; the reply comes on the message stream."""
        key = web_customer_key(user_id)
        text = body.text if body.text is not None else (body.label or body.choice or "")
        # The echo goes first so it is ordered before any reply; both are idempotent on
        # client_id, so a client retrying after a dropped connection changes nothing.
        await outbox.append(
            key,
            WebMessage(
                message_id=f"in:{body.client_id}",
                sender="customer",
                text=text,
                kind="choice" if body.choice is not None else "text",
                client_id=body.client_id,
            ),
        )
        await inbox.put(
            Inbound(
                event_id=f"web:{user_id}:{body.client_id}",
                channel=NAME,
                user_id=user_id,
                kind=InboundKind.CHOICE if body.choice is not None else InboundKind.TEXT,
                text=text,
                payload=body.choice,
                origin=client_ip(request),
            )
        )
        return Accepted()

    @router.get("/messages")
    async def poll_messages(
        user_id: User,
        after: Annotated[str | None, Query(max_length=41)] = None,
        wait: Annotated[float, Query(ge=0, le=25)] = 0,
    ) -> MessagePage:
        """Messages after `after`; waits up to `wait` seconds for the first new one."""
        if after is not None and not is_cursor(after):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, CURSOR_PROBLEM)
        key = web_customer_key(user_id)
        messages = await outbox.read(key, after)
        if not messages and wait > 0:
            await outbox.wait(key, wait)
            messages = await outbox.read(key, after)
        return MessagePage(messages=messages, cursor=messages[-1].cursor if messages else after)

    def linking_on() -> Linking:
        if linking is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "linking channels is not enabled")
        return linking

    @router.post("/link-code", dependencies=[Depends(ip_limited)])
    async def link_code(user_id: LimitedUser) -> LinkCode:
        """A one-time code to type on the customer's other channel (on LINE, say)."""
        return await issue_code(linking_on(), web_customer_key(user_id))

    @router.post("/link", dependencies=[Depends(ip_limited)])
    async def link(request: Request, body: LinkRequest, user_id: LimitedUser) -> Linked:
        """Link this web customer with the channel the code came from."""
        return await redeem_code(
            linking_on(), web_customer_key(user_id), body.code, names, client_ip(request)
        )

    @router.get("/link")
    async def link_status(user_id: User) -> Linked:
        """The channels this web customer is linked with."""
        return await linked(linking_on(), web_customer_key(user_id), names)

    @router.delete("/link")
    async def unlink(user_id: User) -> Linked:
        """Detach this web customer from the channels it is linked with."""
        await linking_on().unlink(web_customer_key(user_id))
        return await linked(linking_on(), web_customer_key(user_id), names)

    @router.websocket("/ws")
    async def message_socket(
        websocket: WebSocket, token: str = "", after: str | None = None
    ) -> None:
        """Every message after `after`, then each new one as it is added."""
        await websocket.accept()
        try:
            user_id = await verified(token)
        except TokenError as exc:
            await websocket.close(code=WS_TOKEN_REFUSED, reason=str(exc))
            return
        if after is not None and not is_cursor(after):
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=CURSOR_PROBLEM)
            return
        sockets: OpenSockets | None = getattr(websocket.app.state, "web_sockets", None)
        ip = client_ip(websocket)
        refusal = sockets.open(user_id, ip) if sockets is not None else None
        if refusal is not None:
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=refusal)
            return
        try:
            await _stream(websocket, outbox, web_customer_key(user_id), after)
        finally:
            if sockets is not None:
                sockets.close(user_id, ip)

    return router


async def _stream(websocket: WebSocket, outbox: WebOutbox, key: str, after: str | None) -> None:
    """Send every message after `after`, then each new one, until the client goes."""
    gone = asyncio.Event()

    async def watch_for_close() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await websocket.receive_text()  # clients only ever ping; ignore it
        gone.set()

    watcher = asyncio.create_task(watch_for_close())
    try:
        while not gone.is_set():
            messages = await outbox.read(key, after)
            for message in messages:
                await websocket.send_text(dump_message(message))
                after = message.cursor
            if not messages and not await _wait_unless(outbox.wait(key, WS_PING_SECONDS), gone):
                if gone.is_set():
                    break
                await websocket.send_text('{"type": "ping"}')
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        watcher.cancel()

"""The console's HTTP API under `/agent/api`, and the page itself at `/agent`.

No `from __future__ import annotations` here: FastAPI reads the local `Acting` alias at
import time.
"""

import hashlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from bot.actor import Actor
from bot.channel_catalog import Label
from bot.conversation import Conversation, ConversationState
from bot.identity import channel_of
from bot.ports import ReadReceipts
from handoff.agents import ActionResult, AgentActions, ConversationNotFound, new_action_id
from handoff.console.auth import Agent, ConsoleAuth, agent_dependency
from handoff.console.privacy import ConsolePrivacy
from handoff.console.schemas import (
    CLIENT_ID_PATTERN,
    CUSTOMER_KEY_PATTERN,
    ActionDone,
    ActionRefused,
    AgentReply,
    ChannelLabel,
    ConversationView,
    Me,
    QueueView,
)
from handoff.console.views import ConsoleViews

STATIC = resources.files("handoff.console").joinpath("static")
_ASSETS = {"agent.js": "text/javascript", "agent.css": "text/css"}
_PAGE_HEADERS = {
    # Everything the page shows is set as text, and nothing else may run or load.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "No live conversation for that customer."},
    409: {"model": ActionRefused, "description": "Someone else holds it, or it moved on."},
}

CustomerKey = Annotated[
    str,
    Path(
        pattern=CUSTOMER_KEY_PATTERN,
        description="`channel:user_id`, e.g. `web:w_0123abcd` (URL-encode the colon if you like).",
    ),
]


def _json(request: Request, body: BaseModel) -> Response:
    """The body as JSON with an ETag; `304 Not Modified` when the poller has it already."""
    content = body.model_dump_json().encode()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content, media_type="application/json", headers=headers)


def _refused(result: ActionResult) -> JSONResponse:
    holder = result.holder
    body = ActionRefused(
        detail=result.reason,
        state=result.state,
        agent=holder.name if holder else None,
        agent_id=holder.id if holder else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)


def _done(result: ActionResult, action_id: str, message_id: str | None = None) -> ActionDone:
    holder = result.holder if result.state is not ConversationState.QUEUED else None
    return ActionDone(
        state=result.state,
        agent=holder.name if holder else None,
        agent_id=holder.id if holder else None,
        action_id=action_id,
        message_id=message_id,
        duplicate=result.duplicate,
    )


def _action_id(
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=CLIENT_ID_PATTERN,
            description="Random per action; a retry with the same key does nothing again. "
            "Generated (and returned as `action_id`) when absent.",
        ),
    ] = None,
) -> str:
    return idempotency_key or new_action_id()


ActionId = Annotated[str, Depends(_action_id)]


def known_channel_dependency(channels: Collection[str]) -> Callable[[Request], None]:
    """A dependency refusing (400, like any malformed key) a customer key in the path whose
    channel is not one of `channels` (the registered ones; none given: any)."""

    def known_channel(request: Request) -> None:
        key = request.path_params.get("customer_key")
        if channels and isinstance(key, str) and key.split(":", 1)[0] not in channels:
            raise RequestValidationError(
                [
                    {
                        "loc": ("path", "customer_key"),
                        "msg": f"no such channel; the channels are {', '.join(channels)}",
                        "type": "value_error",
                    }
                ]
            )

    return known_channel


def build_router(
    auth: ConsoleAuth,
    views: ConsoleViews,
    agents: AgentActions,
    privacy: ConsolePrivacy,
    channel_labels: Mapping[str, Label] | None = None,
    *,
    read_receipts: Sequence[ReadReceipts] = (),
) -> APIRouter:
    """The `/agent` page and `/agent/api/*` routes, bound to this process's parts.

    `privacy`: what each agent may see of a conversation; `channel_labels` (from the
    channel registry) tell the page how to name each channel; `read_receipts`: channels
    told when an agent opens a conversation (LINE's 既読)."""
    channels = {
        name: ChannelLabel(ja=label.ja, en=label.en)
        for name, label in (channel_labels or {}).items()
    }

    router = APIRouter(prefix="/agent")
    api = APIRouter(
        prefix="/api",
        tags=["agent console"],
        dependencies=[Depends(known_channel_dependency(list(channels)))],
    )

    current_agent = agent_dependency(auth)

    def acting_agent(agent: Annotated[Agent, Depends(current_agent)]) -> Actor:
        actor = agent.actor
        if actor is None:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "with the admin token, name yourself in the 'X-Agent-Name' header",
            )
        return actor

    Acting = Annotated[Actor, Depends(acting_agent)]

    async def _linked_identity(customer_key: str, channel: str) -> str:
        """The customer's identity on `channel`; 400 when they are not linked there."""
        for member in await views.identities.members(customer_key):
            if channel_of(member) == channel:
                return member
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"the customer has no linked identity on '{channel}'"
        )

    async def load(customer_key: str) -> Conversation:
        conversation = await views.store.load(customer_key)
        if conversation is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no conversation for that customer")
        return conversation

    async def answer(
        action: Awaitable[ActionResult],
        customer_key: str,
        action_id: str,
        *,
        track: bool = False,
        message_id: str | None = None,
    ) -> ActionDone | JSONResponse:
        """Carry out an agent's action and answer it: 409 when refused, else what it did;
        `track`: the conversation is one to list in the queue view from now on."""
        result = await _act(action)
        if not result.ok:
            return _refused(result)
        if track:
            await views.track(customer_key)
        return _done(result, action_id, message_id)

    @api.get("/me")
    async def me(agent: Annotated[Agent, Depends(current_agent)]) -> Me:
        """Who this token belongs to (checks a token the page was given)."""
        actor = agent.actor
        return Me(id=actor.id if actor else None, name=agent.name, via=agent.via, channels=channels)

    @api.get("/queue", response_model=QueueView, responses={304: {"description": "Unchanged."}})
    async def queue(request: Request, _: Annotated[Agent, Depends(current_agent)]) -> Response:
        """Waiting customers in serving order, and the conversations agents hold (poll it)."""
        return _json(request, privacy.queue(await views.queue_view()))

    @api.get(
        "/conversations/{customer_key}",
        response_model=ConversationView,
        responses={304: {"description": "Unchanged."}, 404: _REFUSED[404]},
    )
    async def conversation(
        request: Request,
        customer_key: CustomerKey,
        agent: Annotated[Agent, Depends(current_agent)],
        limit: Annotated[int, Query(ge=1, le=200)] = 200,
    ) -> Response:
        """One conversation: state, agent, transcript and the customer's earlier conversations.

        A person has now seen the customer's messages: their channel may show it. Personal
        data is masked unless the agent holds the conversation (that view is written to
        the audit log)."""
        conv = await load(customer_key)
        for receipts in read_receipts:
            await receipts.seen_by_agent(customer_key)
        view = await views.conversation_view(conv, limit)
        return _json(request, await privacy.conversation(view, conv, agent.actor))

    @api.post("/conversations/{customer_key}/claim", response_model=ActionDone, responses=_REFUSED)
    async def claim(
        customer_key: CustomerKey, actor: Acting, action_id: ActionId
    ) -> ActionDone | JSONResponse:
        """Take a waiting customer. Of simultaneous claims exactly one wins; the rest get 409."""
        action = agents.claim(customer_key, actor, action_id=action_id)
        return await answer(action, customer_key, action_id, track=True)

    @api.post("/conversations/{customer_key}/reply", response_model=ActionDone, responses=_REFUSED)
    async def reply(
        customer_key: CustomerKey, body: AgentReply, actor: Acting
    ) -> ActionDone | JSONResponse:
        """Send text to the customer on the channel they last wrote on, or on another of
        their linked channels (`channel`; 400 if they have none there). Only the holder may.

        Resending a `client_id` you sent is a no-op (`duplicate: true`); anyone else gets
        the answer their own request deserves (409 unless they hold the conversation).
        """
        to = await _linked_identity(customer_key, body.channel) if body.channel else None
        action = agents.reply(customer_key, actor, body.text, action_id=body.client_id, to=to)
        return await answer(action, customer_key, body.client_id, message_id=body.client_id)

    @api.post(
        "/conversations/{customer_key}/release", response_model=ActionDone, responses=_REFUSED
    )
    async def release(
        customer_key: CustomerKey, actor: Acting, action_id: ActionId
    ) -> ActionDone | JSONResponse:
        """Put the customer back in the queue, at the place they had."""
        action = agents.release(customer_key, actor, action_id=action_id)
        return await answer(action, customer_key, action_id, track=True)

    @api.post("/conversations/{customer_key}/close", response_model=ActionDone, responses=_REFUSED)
    async def close(
        customer_key: CustomerKey, actor: Acting, action_id: ActionId
    ) -> ActionDone | JSONResponse:
        """End the conversation; the customer is asked the survey (once, if surveys are on)."""
        action = agents.close(customer_key, actor, action_id=action_id)
        return await answer(action, customer_key, action_id)

    @api.post(
        "/conversations/{customer_key}/takeover", response_model=ActionDone, responses=_REFUSED
    )
    async def takeover(
        customer_key: CustomerKey, actor: Acting, action_id: ActionId
    ) -> ActionDone | JSONResponse:
        """Take a conversation another agent holds. Recorded in the transcript, told to the
        desks and counted in the conversation's record."""
        action = agents.take_over(customer_key, actor, action_id=action_id)
        return await answer(action, customer_key, action_id, track=True)

    router.include_router(api)
    router.add_api_route("", _page, include_in_schema=False)
    router.add_api_route("/", _page, include_in_schema=False)
    router.add_api_route("/assets/{name}", _asset, include_in_schema=False)
    return router


async def _act(action: Awaitable[ActionResult]) -> ActionResult:
    try:
        return await action
    except ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no conversation for that customer") from exc


async def _page() -> Response:
    with resources.as_file(STATIC.joinpath("agent.html")) as path:
        return FileResponse(path, media_type="text/html", headers=_PAGE_HEADERS)


async def _asset(name: str) -> Response:
    if name not in _ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    with resources.as_file(STATIC.joinpath(name)) as path:
        return FileResponse(path, media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})

"""The console's HTTP API under `/agent/api`, and the page itself at `/agent`.

No `from __future__ import annotations` here: FastAPI reads the local `Acting` alias at
import time.
"""

import hashlib
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from redis.asyncio import Redis

from bot.conversation import Conversation, ConversationState
from handoff.agents import ActionResult, AgentActions, ConversationNotFound
from handoff.console.auth import Agent, BadName, ConsoleAuth
from handoff.console.schemas import (
    CUSTOMER_KEY_PATTERN,
    ActionDone,
    ActionRefused,
    AgentReply,
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
    body = ActionRefused(detail=result.reason, state=result.state, agent=result.holder)
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)


def build_router(
    auth: ConsoleAuth,
    views: ConsoleViews,
    agents: AgentActions,
    redis: Redis,
    reply_key: Callable[[str, str], str],
    reply_ttl_seconds: int,
) -> APIRouter:
    """The `/agent` page and `/agent/api/*` routes, bound to this process's parts."""
    router = APIRouter(prefix="/agent")
    api = APIRouter(prefix="/api", tags=["agent console"])

    def current_agent(
        authorization: Annotated[str | None, Header()] = None,
        x_agent_name: Annotated[
            str | None,
            Header(description="With the admin token: the agent's name, percent-encoded UTF-8."),
        ] = None,
    ) -> Agent:
        try:
            agent = auth.identify(authorization, x_agent_name)
        except BadName as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        if agent is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "expected 'Authorization: Bearer <admin or agent token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return agent

    def acting_agent(agent: Annotated[Agent, Depends(current_agent)]) -> str:
        if agent.name is None:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "with the admin token, name yourself in the 'X-Agent-Name' header",
            )
        return agent.name

    Acting = Annotated[str, Depends(acting_agent)]

    async def load(customer_key: str) -> Conversation:
        conversation = await views.store.load(customer_key)
        if conversation is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no conversation for that customer")
        return conversation

    @api.get("/me")
    async def me(agent: Annotated[Agent, Depends(current_agent)]) -> Me:
        """Who this token belongs to (checks a token the page was given)."""
        return Me(name=agent.name, via=agent.via)

    @api.get("/queue", response_model=QueueView, responses={304: {"description": "Unchanged."}})
    async def queue(request: Request, _: Annotated[Agent, Depends(current_agent)]) -> Response:
        """Waiting customers in serving order, and the conversations agents hold (poll it)."""
        return _json(request, await views.queue_view())

    @api.get(
        "/conversations/{customer_key}",
        response_model=ConversationView,
        responses={304: {"description": "Unchanged."}, 404: _REFUSED[404]},
    )
    async def conversation(
        request: Request,
        customer_key: CustomerKey,
        _: Annotated[Agent, Depends(current_agent)],
        limit: Annotated[int, Query(ge=1, le=200)] = 200,
    ) -> Response:
        """One conversation: state, agent, transcript and the customer's earlier conversations."""
        return _json(request, await views.conversation_view(await load(customer_key), limit))

    @api.post("/conversations/{customer_key}/claim", response_model=ActionDone, responses=_REFUSED)
    async def claim(customer_key: CustomerKey, agent: Acting) -> ActionDone | JSONResponse:
        """Take a waiting customer. Of simultaneous claims exactly one wins; the rest get 409."""
        result = await _act(agents.claim(customer_key, agent))
        if not result.ok:
            return _refused(result)
        await views.track(customer_key)
        return ActionDone(state=result.state, agent=result.holder)

    @api.post("/conversations/{customer_key}/reply", response_model=ActionDone, responses=_REFUSED)
    async def reply(
        customer_key: CustomerKey, body: AgentReply, agent: Acting
    ) -> ActionDone | JSONResponse:
        """Send text to the customer on their channel; resending a client_id is a no-op."""
        guard = reply_key(customer_key, body.client_id)
        if not await redis.set(guard, agent, nx=True, ex=reply_ttl_seconds):
            current = await load(customer_key)
            return ActionDone(
                state=current.state, agent=current.agent, message_id=body.client_id, duplicate=True
            )
        try:
            result = await _act(agents.reply(customer_key, agent, body.text, body.client_id))
        except BaseException:
            await redis.delete(guard)  # not sent: a retry must try again
            raise
        if not result.ok:
            await redis.delete(guard)
            return _refused(result)
        return ActionDone(state=result.state, agent=result.holder, message_id=body.client_id)

    @api.post(
        "/conversations/{customer_key}/release", response_model=ActionDone, responses=_REFUSED
    )
    async def release(customer_key: CustomerKey, agent: Acting) -> ActionDone | JSONResponse:
        """Put the customer back in the queue, at the place they had."""
        result = await _act(agents.release(customer_key, agent))
        if not result.ok:
            return _refused(result)
        await views.track(customer_key)
        return ActionDone(state=result.state)

    @api.post("/conversations/{customer_key}/close", response_model=ActionDone, responses=_REFUSED)
    async def close(customer_key: CustomerKey, agent: Acting) -> ActionDone | JSONResponse:
        """End the conversation; the customer is asked the CES question (once)."""
        current = await load(customer_key)
        held_by_other = current.state is ConversationState.WITH_AGENT and current.agent != agent
        if held_by_other:
            reason = f"already taken by {current.agent}"
            return _refused(ActionResult(False, current.state, current.agent, reason))
        result = await _act(agents.close(customer_key, agent))
        if not result.ok:
            return _refused(result)
        return ActionDone(state=result.state)

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

"""Hot webhooks served ahead of the framework's routing.

A platform's webhook is the one route that takes every customer message, and answering it
fast is what keeps the platform from retrying. FastAPI hands each request through its
exception middleware, an exit stack, a match against every route in order (included
routers one level down) and the route's own wrapper before the endpoint runs: about a
twentieth of the web process's CPU per LINE webhook, spent on nothing such a route uses.

`DirectRoutes` sits among the app's own middleware, inside the body-size limit, CORS and
the framework's outer layers (server errors, telemetry), so those still apply. For a
request whose method and exact path are one of its routes it calls the endpoint itself and
answers with the app's exception handlers as the framework would; an exception with no
handler goes on up (a 500 from the server-error layer, as before). Anything else goes on to
the app as usual. Only plain routes (`APIRouter.add_route`: no parameters, no dependencies,
the endpoint reads the request itself) can be served this way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Endpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Any]


def plain_routes(routes: Iterable[BaseRoute], paths: Iterable[str]) -> tuple[Route, ...]:
    """The plain routes (`APIRouter.add_route`) among `routes` whose path is one of `paths`."""
    wanted = set(paths)
    return tuple(
        route
        for route in routes
        if isinstance(route, Route) and not isinstance(route, APIRoute) and route.path in wanted
    )


class DirectRoutes:
    """ASGI middleware answering `routes` itself and passing every other request on."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[Route],
        exception_handlers: Mapping[Any, ExceptionHandler],
    ):
        self.app = app
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        for route in routes:
            if route.param_convertors:
                raise ValueError(f"a direct route has no parameters: {route.path}")
            for method in route.methods or ():
                self._endpoints[(method, route.path)] = route.endpoint
        # The app's handlers, by exception class (shared: handlers added later count too).
        self._handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a direct route's request, or pass the request on."""
        endpoint = (
            self._endpoints.get((scope["method"], scope["path"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            if _is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            if response is None:  # as Starlette: a handler may answer nothing
                return
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        # As Starlette looks one up: an HTTP error's status code first, then the nearest
        # class in the exception's MRO.
        if isinstance(exc, HTTPException) and exc.status_code in self._handlers:
            return self._handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None


def _is_async_callable(handler: object) -> bool:
    """Whether calling `handler` gives a coroutine: an async function, a partial of one,
    or an object whose `__call__` is one (as Starlette decides)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    return inspect.iscoroutinefunction(handler) or (
        callable(handler) and inspect.iscoroutinefunction(type(handler).__call__)
    )

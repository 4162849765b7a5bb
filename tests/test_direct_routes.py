"""Hot webhooks answered ahead of the app's routing (`bot.direct_routes`), with the answers
the framework would have given: handled exceptions, server errors, other methods and paths,
the body-size limit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from bot.composition.app import create_app
from bot.composition.runtime import Runtime
from bot.direct_routes import DirectRoutes, plain_routes
from bot.limits import BodySizeLimit
from bot.serving import serve_in_loop
from bot.settings import Settings
from channels.line.fake_platform import FakeLinePlatform
from channels.line.settings import NAME


class Refused(Exception):
    """What the test endpoint raises for the app's handler to answer."""


class Busy(Exception):
    """What the test endpoint raises for a handler that is an object, not a function."""


class BusyHandler:
    """An exception handler written as a class with an async `__call__`."""

    async def __call__(self, _: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "busy"}, status_code=429)


def _app(served: list[str]) -> FastAPI:
    """An app whose `POST /hook` is served directly and raises as the body asks."""
    app = FastAPI()
    router = APIRouter()

    async def hook(request: Request) -> Response:
        body = await request.body()
        if body == b"refuse":
            raise Refused()
        if body == b"crash":
            raise RuntimeError("a bug")
        if body == b"teapot":
            raise HTTPException(status_code=418)
        if body == b"busy":
            raise Busy()
        served.append(body.decode())
        return JSONResponse({"took": len(body)})

    router.add_route("/hook", hook, methods=["POST"])

    @router.get("/other")
    async def other() -> dict[str, str]:
        return {"routed": "yes"}

    app.include_router(router)
    app.add_middleware(
        DirectRoutes,
        routes=plain_routes(router.routes, ["/hook"]),
        exception_handlers=app.exception_handlers,
    )
    app.add_middleware(BodySizeLimit, max_bytes=100)

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "try later"}, status_code=503)

    @app.exception_handler(418)
    async def teapot(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "a teapot, by its status"}, status_code=418)

    app.add_exception_handler(Busy, BusyHandler())
    return app


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    served: list[str] = []
    async with serve_in_loop(_app(served)) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        yield c, served


async def test_a_direct_route_answers_as_its_endpoint_says(
    client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, served = client
    response = await http.post("/hook", content=b"hello")
    assert (response.status_code, response.json()) == (200, {"took": 5})
    assert served == ["hello"]


async def test_an_exception_goes_to_the_apps_handler_or_becomes_a_500(
    client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = client
    refused = await http.post("/hook", content=b"refuse")
    assert (refused.status_code, refused.json()) == (503, {"detail": "try later"})
    crashed = await http.post("/hook", content=b"crash")
    assert crashed.status_code == 500


async def test_other_methods_and_paths_are_routed_as_before(
    client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, served = client
    assert (await http.get("/hook")).status_code == 405
    assert (await http.get("/other")).json() == {"routed": "yes"}
    assert (await http.post("/hook/")).status_code in (307, 404)
    assert served == []


async def test_the_body_limit_still_applies(client: tuple[httpx.AsyncClient, list[str]]) -> None:
    http, served = client
    assert (await http.post("/hook", content=b"x" * 101)).status_code == 413
    assert served == []


def test_a_route_with_parameters_cannot_be_direct() -> None:
    async def endpoint(_: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="no parameters"):
        DirectRoutes(
            FastAPI(), [Route("/hook/{id}", endpoint, methods=["POST"])], exception_handlers={}
        )


async def test_the_line_webhook_is_answered_ahead_of_the_apps_routes(
    make_settings: Callable[..., Settings],
) -> None:
    # A route put in front of all the app's routes, at the webhook's path: the router would
    # pick it, the webhook is answered before the router looks.
    platform = await FakeLinePlatform(
        channel_secret=f"secret-{uuid.uuid4().hex}", access_token=f"token-{uuid.uuid4().hex}"
    ).start()
    line = platform.channel_settings()
    settings = make_settings()
    settings = settings.model_copy(update={"channels": {**settings.channels, NAME: line}})
    runtime = Runtime(settings)
    app = create_app(settings, runtime=runtime)
    routed: list[str] = []

    async def in_front(request: Request) -> Response:
        routed.append(request.url.path)
        return Response(status_code=204)

    app.router.routes.insert(0, Route(line.webhook_path, in_front, methods=["POST"]))
    try:
        async with serve_in_loop(app) as base_url:
            platform.webhook_url = base_url + line.webhook_path
            status = await platform.post([platform.text("U" + uuid.uuid4().hex, "hello")])
            assert status == 200
            assert routed == []
            assert await runtime.inbox.backlog() == 1
    finally:
        await runtime.redis.aclose()
        await platform.stop()


async def test_handlers_chosen_by_status_code_or_written_as_objects_answer_as_routed(
    client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = client
    teapot = await http.post("/hook", content=b"teapot")
    assert (teapot.status_code, teapot.json()) == (418, {"detail": "a teapot, by its status"})
    busy = await http.post("/hook", content=b"busy")
    assert (busy.status_code, busy.json()) == (429, {"detail": "busy"})

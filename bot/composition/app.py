"""The FastAPI app factory."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.composition.runtime import Runtime
from bot.direct_routes import DirectRoutes
from bot.errors import StorageUnavailable
from bot.helpcenter import HelpCenter
from bot.helpcenter.store import HelpCenterStore
from bot.limits import BodySizeLimit, OpenSockets, RateLimiter, WebLimits
from bot.reports.admin import build_admin_router
from bot.reports.seed import StoreNotEmpty, seed_demo
from bot.serving import serve_in_loop
from bot.settings import Settings, get_settings
from handoff.console.auth import admin_dependency
from handoff.console.suggestions import build_suggestions_router

log = logging.getLogger("tsunagu.app")


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, demo_data: bool = False
) -> FastAPI:
    """Build the web app: channels' routes, health checks, and the runtime's lifecycle."""
    settings = settings or get_settings()
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await rt.start(run_worker=settings.run_worker)
        if demo_data:
            await _seed_demo(rt)
        try:
            yield
        finally:
            await rt.stop()

    docs = settings.serves_api_docs
    app = FastAPI(
        title="Tsunagu",
        summary="Omnichannel customer-support bot: FAQ, CES surveys and human handoff.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.runtime = rt
    app.state.settings = settings
    app.state.web_limits = WebLimits(
        per_token=RateLimiter(rt.redis, rt.keys, "web_token", settings.web_rate_limit_per_minute),
        per_ip=RateLimiter(rt.redis, rt.keys, "web_ip", settings.web_ip_rate_limit_per_minute),
    )
    app.state.web_sockets = OpenSockets(settings.web_ws_per_customer, settings.web_ws_per_ip)
    # Innermost of ours: the channels' hot webhooks, answered without the app's routing
    # (still inside the body-size limit, CORS and the framework's server-error layer).
    direct = [route for channel in rt.channels.values() for route in channel.direct_routes]
    if direct:
        app.add_middleware(DirectRoutes, routes=direct, exception_handlers=app.exception_handlers)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    # Outermost: an oversized body is refused before anything reads it.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(StorageUnavailable)
    async def storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # 503 makes LINE and Slack retry later, and tells the widget to try again.
        log.error("storage unavailable", extra={"error": str(exc)})
        return JSONResponse(
            {"detail": "storage unavailable, try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A malformed body is the client's mistake: say exactly what is wrong, in plain words.
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": "malformed request", "problems": problems}, 400)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready to take traffic: Redis answers and an FAQ is loaded."""
        try:
            await rt.redis.ping()
            redis_ok = True
        except Exception:
            redis_ok = False
        body = {
            "status": "ok" if redis_ok else "unavailable",
            "redis": "ok" if redis_ok else "unreachable",
            "redis_mode": "embedded" if settings.embedded_redis else "external",
            "faq_entries": len(rt.faq.entries),
        }
        return JSONResponse(body, status_code=200 if redis_ok else 503)

    async def metrics_token_required(authorization: Annotated[str | None, Header()] = None) -> None:
        """With `METRICS_TOKEN` set, /metrics answers only `Authorization: Bearer <it>`."""
        expected = settings.metrics_token
        if not expected:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the metrics token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def prometheus_metrics() -> PlainTextResponse:
        """Prometheus metrics of this process (queue figures are read from Redis)."""
        metrics.QUEUE_LENGTH.set(await rt.queue.length())
        metrics.INBOX_PENDING.set(await rt.inbox.pending_count())
        for lane in rt.delivery.lanes:
            metrics.OUTBOUND_PENDING.labels(lane).set(await rt.outbound.pending(lane))
        return PlainTextResponse(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    # In production, metrics name queue sizes and error counts: only for whoever has the token.
    if settings.serves_metrics:
        app.add_api_route(
            "/metrics",
            prometheus_metrics,
            tags=["operations"],
            response_class=PlainTextResponse,
            dependencies=[Depends(metrics_token_required)],
        )

    for channel in rt.channels.values():
        app.include_router(channel.router)
    app.include_router(rt.console.router)
    app.include_router(
        build_suggestions_router(
            rt.console.auth,
            rt.store,
            rt.faq,
            rt.records,
            rt.console.privacy,
            rt.catalog.names,
        )
    )
    help_store = HelpCenterStore(
        rt.redis, rt.keys, rt.records, retention_days=settings.records_retention_days
    )
    if settings.help_center:
        help_center = HelpCenter(
            rt.faq,
            rt.texts,
            help_store,
            RateLimiter(
                rt.redis, rt.keys, "help_feedback", settings.help_feedback_rate_limit_per_minute
            ),
            path=settings.help_center_path,
            public_base_url=settings.public_base_url,
        )
        app.include_router(help_center.router)
        app.include_router(help_center.widget_router)
    app.include_router(
        build_admin_router(
            rt.records,
            rt.faq,
            admin_dependency(rt.console.auth),
            help_store=help_store if settings.help_center else None,
            archive=rt.archive,
            panels=rt.panels,
            audit=rt.audit,
            channel_labels=rt.catalog.label_map("en"),
        )
    )
    return app


async def _seed_demo(rt: Runtime) -> None:
    """Sample report data for a first look at /admin (skipped if the store has some)."""
    try:
        count = await seed_demo(rt.records, channels=rt.catalog.names)
    except StoreNotEmpty:
        log.info("demo data not added: the store already has conversations")
        return
    log.warning("demo data: added %d sample conversations for /admin", count)


@dataclass
class ServedApp:
    """The whole app served on a loopback port, and its runtime."""

    runtime: Runtime
    base_url: str


@asynccontextmanager
async def serve_app(settings: Settings, port: int = 0) -> AsyncIterator[ServedApp]:
    """Build the runtime and serve the app (uvicorn, in this event loop) on `port` (0: any
    free one) until the block ends; for simulators and tests."""
    runtime = Runtime(settings)
    try:
        async with serve_in_loop(create_app(settings, runtime=runtime), port=port) as base_url:
            yield ServedApp(runtime, base_url)
    finally:
        await runtime.redis.aclose()

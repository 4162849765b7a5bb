"""Serving the app with uvicorn: connection limits, and serving inside a running loop.

Uvicorn closes idle keep-alive connections, but a client that opens a connection and sends
its request head slowly (or never finishes it) is held until it gives up. `GuardedH11Protocol`
gives every request head `HEADER_TIMEOUT_SECONDS` to arrive whole, then closes the
connection; `MAX_CONNECTIONS` caps what one process holds open (uvicorn answers 503 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.settings import Settings

log = logging.getLogger("tsunagu.serving")


class GuardedH11Protocol(H11Protocol):
    """Uvicorn's h11 protocol, closing a connection whose request head is too slow."""

    header_timeout_seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request head."""
        super().connection_made(transport)
        self._watch_request_head()

    def data_received(self, data: bytes) -> None:
        """Handle the bytes, then start or stop the clock for the request head."""
        super().data_received(data)
        self._watch_request_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        """Between requests uvicorn's keep-alive timeout applies, not ours."""
        super().on_response_complete()
        self._stop_header_timer()

    def _watch_request_head(self) -> None:
        # h11 reports the client IDLE until a whole request head has arrived. Armed once
        # per head: trickling a byte at a time does not push the deadline back.
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._header_timer is None and self.timeout_keep_alive_task is None:
            self._header_timer = self.loop.call_later(
                self.header_timeout_seconds, self._head_too_slow
            )
        elif not waiting:
            self._stop_header_timer()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closed a connection whose request head took too long")
            self.transport.close()


def guarded_protocol(header_timeout_seconds: float) -> type[GuardedH11Protocol]:
    """`GuardedH11Protocol` with its header timeout set."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_seconds": header_timeout_seconds},
    )


def uvicorn_config(app: FastAPI, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How the app is served, the same in production (`tsunagu serve`) and in tests."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        lifespan="on",
        http=guarded_protocol(settings.header_timeout_seconds),
        limit_concurrency=settings.max_connections or None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_in_loop(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop (lifespan included); yields its base URL.

    Served as `tsunagu serve` serves it, with the settings the app was built with."""
    port = port or free_port(host)
    settings: Settings | None = getattr(app.state, "settings", None)
    config = (
        uvicorn_config(app, settings, host=host, port=port)
        if settings is not None
        else uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            raise RuntimeError("the app did not start")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)

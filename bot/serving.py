"""Serving the app with uvicorn: connection limits, and serving inside a running loop.

Uvicorn closes idle keep-alive connections, but a client that opens a connection and sends
its request head slowly (or never finishes it) is held until it gives up.
`GuardedHttpToolsProtocol` (or `GuardedH11Protocol` without httptools) gives every request
head `HEADER_TIMEOUT_SECONDS` to arrive whole, then closes the connection;
`MAX_CONNECTIONS` caps what one process holds open (uvicorn answers 503 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 serves
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from bot.settings import Settings

log = logging.getLogger("tsunagu.serving")


class _HeadDeadline(asyncio.Protocol):
    """The clock every request head runs against, shared by both HTTP protocols: put
    before uvicorn's protocol in the bases, so that its `super()` calls reach it."""

    header_timeout_seconds = 10.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    timeout_keep_alive_task: asyncio.TimerHandle | None
    _header_timer: asyncio.TimerHandle | None = None

    def _head_pending(self) -> bool:
        """True while a request head is expected and has not fully arrived."""
        raise NotImplementedError

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

    def _watch_request_head(self) -> None:
        # Armed once per head: trickling a byte at a time does not push the deadline back.
        # Between requests uvicorn's keep-alive timeout applies, not ours.
        waiting = self._head_pending() and not self.transport.is_closing()
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
        if self._head_pending() and not self.transport.is_closing():
            log.info("closed a connection whose request head took too long")
            self.transport.close()


class GuardedH11Protocol(_HeadDeadline, H11Protocol):
    """Uvicorn's h11 protocol, closing a connection whose request head is too slow."""

    def on_response_complete(self) -> None:
        """Between requests uvicorn's keep-alive timeout applies, not ours."""
        super().on_response_complete()
        self._stop_header_timer()

    def _head_pending(self) -> bool:
        # h11 reports the client IDLE until a whole request head has arrived.
        return self.conn.their_state is h11.IDLE


class GuardedHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
    """Uvicorn's httptools protocol (C parser, the faster one), closing a connection whose
    request head is too slow."""

    _awaiting_head = True

    def on_message_begin(self) -> None:
        """A request head begins."""
        self._awaiting_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        """The request head is whole: stop the clock."""
        self._awaiting_head = False
        self._stop_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """Between requests uvicorn's keep-alive timeout applies, not ours."""
        super().on_response_complete()
        self._stop_header_timer()

    def _head_pending(self) -> bool:
        return self._awaiting_head


def guarded_protocol(header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """The HTTP protocol uvicorn serves with (httptools' parser when it is installed, as
    with `uvicorn[standard]`, else h11's), with its header timeout set."""
    base: type[_HeadDeadline] = (
        GuardedHttpToolsProtocol if HttpToolsProtocol is not None else GuardedH11Protocol
    )
    return type(base.__name__, (base,), {"header_timeout_seconds": header_timeout_seconds})


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


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to completion on uvloop when it is installed (as with `uvicorn[standard]`,
    whose server picks it too), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


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

"""An open-loop sender of pre-built HTTP/1.1 requests, as cheap for its process as it can be.

`bench/webhook_load.py` runs it in a load process on the same machine as the app it
measures, so every CPU cycle it spends is taken from that app. Hence every request (head
and body, `post_request`) is built before the clock starts; then (`send`), at each
request's time, its bytes are written as they are on a persistent keep-alive connection,
and of the response only the status line, `Content-Length` and `Connection` are read. No
task, future or parser object per request: a timer per request and one small protocol
object per connection.

Open loop: a request whose time has come goes out on an idle connection, or on a new one
if none is idle; only past `limit` open connections does it wait for one to be free. A
connection that closes before the response, or cannot be opened, counts its request as
failed with status 0; the next request opens a new connection.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"


@dataclass(slots=True)
class Outcome:
    """What became of one request: when it was sent and answered (wall clock, seconds) and
    the response's status (0: no response, the connection failed or closed first)."""

    sent: float = 0.0
    acked: float = 0.0
    status: int = 0


@dataclass(slots=True)
class SendReport:
    """The outcomes, in the order of the requests, and the CPU time (user+system seconds)
    this process spent from the first request's time until the last response."""

    outcomes: list[Outcome]
    cpu_seconds: float


def process_cpu_seconds() -> float:
    """User+system CPU time this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def post_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of an HTTP/1.1 keep-alive POST of `body` to `url` (http only)."""
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, finds the end of its response."""

    def __init__(self, sender: _Sender, first: int) -> None:
        self.sender = sender
        self.current: int | None = first  # the request in flight, if any
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass)
        self.sender.connected(self)
        if self.current is not None:
            self.transport.write(self.sender.requests[self.current])

    def start(self, index: int) -> None:
        """Send request `index` (the connection is open and idle)."""
        assert self.transport is not None
        self.current = index
        self.transport.write(self.sender.requests[index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(_HEAD_END)
        if end < 0 or self.current is None:
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12]) if head[9:12].isdigit() else 0
        length: int | None = None
        reusable = True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value:
                reusable = False
        if length is None:
            # No length (chunked, or until close): the status is known, but where the body
            # ends is not, so the connection is not used again.
            length, reusable = len(self.buffer) - end - 4, False
        elif len(self.buffer) < end + 4 + length:
            return  # more of the body to come
        del self.buffer[: end + 4 + length]
        index, self.current = self.current, None
        if not reusable:
            self.close()
        self.sender.finished(self, index, status, reusable)

    def close(self) -> None:
        """Close the connection; a request in flight on it counts as failed (status 0)."""
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        index, self.current = self.current, None
        self.sender.lost(self, index)


class _Sender:
    """The connections and the outcomes of one `send`."""

    def __init__(self, requests: Sequence[bytes], host: str, port: int, limit: int) -> None:
        self.requests = requests
        self.host, self.port, self.limit = host, port, limit
        self.outcomes = [Outcome() for _ in requests]
        self.idle: list[_Connection] = []
        self.opened: set[_Connection] = set()  # connected, not yet lost
        self.connecting = 0
        self.waiting: deque[int] = deque()  # requests whose time came, all connections busy
        self.unanswered = len(requests)
        self.given_up = False  # past the patience: what still comes in is not recorded
        self.all_answered = asyncio.Event()
        if not requests:
            self.all_answered.set()
        self.connects: set[asyncio.Task[None]] = set()

    def open_connections(self) -> int:
        return len(self.opened) + self.connecting

    def dispatch(self, index: int) -> None:
        """Request `index`'s time has come: send it now, whatever is still in flight."""
        self.outcomes[index].sent = time.time()
        self._send(index)

    def _send(self, index: int) -> None:
        if self.idle:
            # The most recently used first: the others idle longer and may be closed by
            # the server's keep-alive timeout without a request in flight.
            self.idle.pop().start(index)
        elif self.open_connections() < self.limit:
            self.connecting += 1
            task = asyncio.create_task(self._connect(index))
            self.connects.add(task)
            task.add_done_callback(self.connects.discard)
        else:
            self.waiting.append(index)

    async def _connect(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: _Connection(self, index), self.host, self.port)
        except OSError:
            self.connecting -= 1
            self._record(index, 0)
            self._next_on_new_connection()

    def connected(self, connection: _Connection) -> None:
        """A connection opened by `_connect` is up (its first request is being written)."""
        self.connecting -= 1
        self.opened.add(connection)

    def finished(self, connection: _Connection, index: int, status: int, reusable: bool) -> None:
        """A response to request `index` came in; the connection takes the next waiting
        request, or idles (unless it is closing)."""
        self._record(index, status)
        if not reusable:
            return  # `lost` follows
        if self.waiting:
            connection.start(self.waiting.popleft())
        else:
            self.idle.append(connection)

    def lost(self, connection: _Connection, index: int | None) -> None:
        """The connection closed: its request in flight (if any) failed."""
        self.opened.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if index is not None:
            self._record(index, 0)
        self._next_on_new_connection()

    def _next_on_new_connection(self) -> None:
        if self.waiting and self.open_connections() < self.limit:
            self._send(self.waiting.popleft())

    def _record(self, index: int, status: int) -> None:
        if self.given_up:
            return
        outcome = self.outcomes[index]
        outcome.acked, outcome.status = time.time(), status
        self.unanswered -= 1
        if self.unanswered == 0:
            self.all_answered.set()

    def close(self) -> None:
        for connection in list(self.opened):
            connection.close()


async def send(
    url: str,
    requests: Sequence[bytes],
    rate: float,
    start_at: float,
    limit: int = 500,
    patience: float = 60.0,
) -> SendReport:
    """Send request n of `requests` (whole HTTP/1.1 requests, `post_request`) at `start_at`
    + n / `rate` (wall clock; at once if that is past), open loop, to `url`'s host and port.
    Waits for every response, at most `patience` seconds after the last request's time;
    requests unanswered by then count as failed (status 0)."""
    parts = urlsplit(url)
    sender = _Sender(requests, parts.hostname or "127.0.0.1", parts.port or 80, limit)
    loop = asyncio.get_running_loop()
    # The schedule in the loop's own clock: one timer per request, nothing else per request.
    began = loop.time() + max(0.0, start_at - time.time())
    cpu_before = process_cpu_seconds()
    for index in range(len(requests)):
        loop.call_at(began + index / rate, sender.dispatch, index)
    last = began + max(0, len(requests) - 1) / rate
    try:
        await asyncio.wait_for(sender.all_answered.wait(), last - loop.time() + patience)
    except TimeoutError:
        pass
    cpu = process_cpu_seconds() - cpu_before
    sender.given_up = True
    sender.close()
    for task in list(sender.connects):
        task.cancel()
    give_up = time.time()
    for outcome in sender.outcomes:
        if outcome.acked == 0.0:  # never answered
            outcome.acked, outcome.status = give_up, 0
            outcome.sent = outcome.sent or give_up
    return SendReport(sender.outcomes, cpu)

"""A TCP relay in front of the test Redis that can stall one connection of a process: the
network fault of a worker whose commands stop reaching Redis, played on loopback.

A stall is armed with the bytes of a command (a key name will do): the first connection
that sends them stops there, that command and everything after it on the connection wait
until the stall is released, and the rest of the process goes on over other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self


class Stall:
    """One armed stall: `seen` once a connection sent the bytes, then held until `release`."""

    def __init__(self, pattern: bytes):
        self.pattern = pattern
        self.seen = asyncio.Event()
        self.released = asyncio.Event()

    def release(self) -> None:
        """Let the stalled connection's commands through."""
        self.released.set()


class StallingRelay:
    """Relays every connection to Redis at `host:port`, stalling some on demand."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379):
        self.host = host
        self.port = port
        # `ip:port` of the relay's own connections to Redis, as `CLIENT LIST` names them.
        self.upstream_addresses: set[str] = set()
        self._stalls: list[Stall] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> Self:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        """The redis:// URL clients use to go through the relay."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def stall(self, pattern: bytes) -> Stall:
        """Stall the first connection that sends `pattern` from now on."""
        stall = Stall(pattern)
        self._stalls.append(stall)
        return stall

    def release_all(self) -> None:
        """Release every stall armed so far."""
        for stall in self._stalls:
            stall.release()

    async def stop(self) -> None:
        """Release every stall, close every connection and stop listening."""
        self.release_all()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()  # Redis is down: so is the connection to the relay
            return
        ip, port = up_writer.get_extra_info("sockname")[:2]
        self.upstream_addresses.add(f"{ip}:{port}")
        self._writers += [writer, up_writer]
        pumps = {
            asyncio.create_task(self._commands(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        }
        self._tasks |= pumps
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            self._tasks -= pumps
            for end in (writer, up_writer):
                end.close()

    async def _commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            stall = next(
                (s for s in self._stalls if not s.seen.is_set() and s.pattern in data), None
            )
            if stall is not None:
                stall.seen.set()
                await stall.released.wait()
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

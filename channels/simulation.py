"""What every channel's fake platform and terminal simulator share.

`FakeServer` is the scaffolding of a fake platform (channels/*/fake_platform.py): an HTTP
server on a loopback port, a session that posts webhooks to the app, and what the app sent,
recorded and waited for. `TerminalChat` is the terminal side of `tsunagu <channel>
simulate`: it reads typed lines, posts the platform's events and waits for the answer;
`simulate` runs one such chat against the whole app.

A shared channel module like `channels.base`: it names no channel.
"""

from __future__ import annotations

import asyncio
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import aiohttp
import click
from aiohttp import web

if TYPE_CHECKING:
    from bot.settings import ChannelSettings
    from channels.base import ServeApp, ServedApp, ServedRuntime

S = TypeVar("S")  # what the fake platform records of one accepted send


class FakeServer(ABC, Generic[S]):
    """A platform's API served locally, and the webhook sender towards the app."""

    # Put after `http://host:port` in `base_url` (e.g. an API version).
    url_suffix = ""

    def __init__(self, webhook_url: str = "") -> None:
        self.webhook_url = webhook_url
        self.base_url = ""
        self.sent: list[S] = []
        self.on_sent: Callable[[S], None] | None = None
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @abstractmethod
    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Route the platform's API endpoints to their handlers."""

    @abstractmethod
    async def post(self, events: list[dict[str, Any]]) -> int:
        """POST a webhook carrying `events` to the app; returns the HTTP status."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Listen on `host:port` (0: any free port); `base_url` says where."""
        app = web.Application()
        self.add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{host}:{bound[1]}{self.url_suffix}"
        # A connection per webhook, as the platforms open them: a kept-alive one can be
        # closed by the app's server as it is reused, failing a delivery for no reason of
        # the app's.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session webhooks are sent with."""
        assert self._session is not None, "start() the platform first"
        return self._session

    async def deliver(self, body: bytes, headers: dict[str, str]) -> int:
        """POST `body` to the app's webhook; returns the HTTP status."""
        async with self.session.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def record(self, sent: S) -> None:
        """Keep one accepted send, show it to `on_sent` and wake whoever waits."""
        self.sent.append(sent)
        if self.on_sent is not None:
            self.on_sent(sent)
        await self.changed()

    async def changed(self) -> None:
        """Wake whoever waits for something recorded."""
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until `ready()` (checked after each change); False after `timeout` seconds."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(ready)

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            return False
        return True


P = TypeVar("P", bound=FakeServer[Any])


class TerminalChat(ABC, Generic[P]):
    """The terminal side of a simulated chat: one customer of `platform`, typing."""

    def __init__(self, platform: P, user_id: str):
        self.platform = platform
        self.user_id = user_id
        self.quick: list[dict[str, Any]] = []
        self.agent = "Sato"

    @abstractmethod
    def show(self, sent: Any) -> None:
        """Print what the bot (or an agent) sent."""

    @abstractmethod
    async def command(self, line: str, runtime: ServedRuntime) -> None:
        """Act on one line typed by the developer."""

    async def send(self, event: dict[str, Any]) -> None:
        """Post one event and give the bot a moment to answer."""
        before = len(self.platform.sent)
        status = await self.platform.post([event])
        if status != 200:
            click.echo(f"(webhook answered {status})")
        await self.platform.wait_until(lambda: len(self.platform.sent) > before, 3.0)
        # The first answer is in; the rest of a reply (a follow-up, quick replies) comes
        # right after it, and the prompt should print below all of it.
        await asyncio.sleep(0.1)

    async def loop(self, runtime: ServedRuntime) -> None:
        """Read lines until /quit or the end of input."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                line = (await loop.run_in_executor(None, input, "you> ")).strip()
            except EOFError:
                return
            if not line:
                continue
            if not sys.stdin.isatty():
                click.echo(line)  # input from a file or pipe: show it as if typed
            if line in ("/quit", "/exit"):
                return
            await self.command(line, runtime)


async def simulate(
    serve: ServeApp,
    chat: TerminalChat[Any],
    *,
    channel: str,
    channel_settings: ChannelSettings,
    webhook_path: str,
    port: int,
    opening: Callable[[ServedApp], Awaitable[None]],
) -> None:
    """Serve the app on `port` with only `channel`, configured by `channel_settings`
    (pointing at `chat.platform`, which posts to `webhook_path`), run `opening` (greetings,
    the first event), then the chat until the developer quits; the platform is stopped at
    the end."""
    from bot.logs import configure_logging
    from bot.settings import Settings

    platform = chat.platform
    settings = Settings(channels={channel: channel_settings})
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), "text")
    platform.on_sent = chat.show
    try:
        async with serve(settings, port) as running:
            platform.webhook_url = running.base_url + webhook_path
            await opening(running)
            await chat.loop(running.runtime)
    finally:
        await platform.stop()

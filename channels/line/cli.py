"""`tsunagu line ...`: chat with the bot as a LINE user, with no LINE account.

`tsunagu line simulate` starts a fake LINE platform (channels/line/fake_platform.py) and
the app with its LINE channel pointed at it, then turns what you type into signed webhooks
and prints what the bot sends back through the real line-bot-sdk client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from bot.actor import Actor
from channels.line.fake_platform import FakeLinePlatform, Sent
from channels.line.settings import LineSettings

if TYPE_CHECKING:
    from bot.composition.runtime import Runtime
    from bot.settings import Settings
    from channels.line.adapter import LineChannel

HELP = """Type a message and press Enter. A number taps that quick reply.
  /follow /unfollow          add or block the account
  /sticker /image /location  send something that is not text
  /agent claim [name]        an agent takes the conversation (after asking for a person)
  /agent <text>              the agent writes (arrives later: a push)
  /agent close               the agent ends the conversation (the CES question)
  /lang ja|en                change your LINE language
  /quit"""


@dataclass
class LineApp:
    """The app serving on a loopback port with its LINE channel."""

    runtime: Runtime
    channel: LineChannel
    base_url: str
    webhook_url: str


@contextlib.asynccontextmanager
async def serve_with_line(
    settings: Settings, line_settings: LineSettings, *, port: int = 0
) -> AsyncIterator[LineApp]:
    """Run the real app (uvicorn, in this event loop) with the LINE channel on it.

    When the runtime builds its own LINE channel (from the `LINE_*` environment), that one
    is used; otherwise one is made from `line_settings` and plugged in here.
    """
    from bot.composition.app import create_app
    from bot.composition.runtime import Runtime
    from bot.serving import serve_in_loop
    from channels.line.adapter import LineChannel

    runtime = Runtime(settings)
    app = create_app(settings, runtime=runtime)
    channel: LineChannel | None = getattr(runtime, "line", None)
    own = channel is None
    if channel is None:
        channel = LineChannel(line_settings, runtime.inbox, runtime.redis, runtime.keys)
        runtime.delivery.register(channel.sender)
        app.include_router(channel.router)
        await channel.start()
    try:
        async with serve_in_loop(app, port=port) as base_url:
            yield LineApp(runtime, channel, base_url, base_url + channel.settings.webhook_path)
    finally:
        if own:
            await channel.stop()
        await runtime.redis.aclose()


@click.group()
def line() -> None:
    """The LINE channel."""


@line.command()
@click.option("--user", "user_id", default="Usimulator00000000000000000000001", show_default=True)
@click.option("--name", default="LINE Customer", show_default=True, help="Your display name.")
@click.option("--language", default="ja", show_default=True, help="Your LINE language.")
@click.option("--port", type=int, default=0, help="Port of the app (default: any free one).")
def simulate(user_id: str, name: str, language: str, port: int) -> None:
    """Chat with the bot as a LINE user, against a local fake LINE platform."""
    asyncio.run(_simulate(user_id, name, language, port))


async def _simulate(user_id: str, name: str, language: str, port: int) -> None:
    from bot.logs import configure_logging
    from bot.settings import Settings

    platform = await FakeLinePlatform(
        channel_secret=f"sim-{uuid.uuid4().hex}", access_token=f"sim-{uuid.uuid4().hex}"
    ).start()
    os.environ.update(platform.env())  # the runtime reads its LINE settings from there
    settings = Settings()
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), "text")
    platform.add_user(user_id, name, language)
    chat = _Chat(platform, user_id)
    platform.on_sent = chat.show
    try:
        async with serve_with_line(settings, LineSettings(), port=port) as running:
            platform.webhook_url = running.webhook_url
            click.echo(f"Fake LINE at {platform.base_url}; Tsunagu at {running.base_url}")
            click.echo(f'You are "{name}" ({user_id}), LINE language {language}. /help for help.')
            await chat.send(platform.event("follow", user_id))
            await chat.loop(running.runtime, language)
    finally:
        await platform.stop()


class _Chat:
    """The terminal side of a simulated chat."""

    def __init__(self, platform: FakeLinePlatform, user_id: str):
        self.platform = platform
        self.user_id = user_id
        self.quick: list[dict[str, Any]] = []
        self.agent = "Sato"

    def show(self, sent: Sent) -> None:
        """Print what the bot (or an agent) sent."""
        for message in sent.messages:
            click.echo(f"[{sent.kind}] {message.get('text', message)}")
            items = (message.get("quickReply") or {}).get("items") or []
            if items:
                self.quick = items
                labels = "  ".join(f"[{n}] {i['action']['label']}" for n, i in enumerate(items, 1))
                click.echo(f"        {labels}")

    async def send(self, event: dict[str, Any]) -> None:
        """Post one event and give the bot a moment to answer."""
        before = len(self.platform.sent)
        status = await self.platform.post([event])
        if status != 200:
            click.echo(f"(webhook answered {status})")
        for _ in range(60):
            if len(self.platform.sent) > before:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)

    async def loop(self, runtime: Runtime, language: str) -> None:
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

    async def command(self, line: str, runtime: Runtime) -> None:
        """Act on one line typed by the developer."""
        p, user = self.platform, self.user_id
        key = f"line:{user}"
        if line == "/help":
            click.echo(HELP)
        elif line.isdigit() and 1 <= int(line) <= len(self.quick):
            item = self.quick[int(line) - 1]
            click.echo(f"(tapped: {item['action'].get('displayText', item['action']['label'])})")
            await self.send(p.postback(user, item["action"]["data"]))
        elif line in ("/follow", "/unfollow"):
            await self.send(p.event(line[1:], user, reply=line == "/follow"))
        elif line == "/sticker":
            sticker = {"type": "sticker", "packageId": "446", "stickerId": "1988"}
            await self.send(p.message(user, {**sticker, "keywords": ["hello"]}))
        elif line == "/image":
            await self.send(p.media(user, "image"))
        elif line == "/location":
            place = {"title": "Tokyo Tower", "address": "4 Chome-2-8 Shibakoen, Minato City"}
            await self.send(
                p.message(
                    user, {"type": "location", **place, "latitude": 35.6586, "longitude": 139.7454}
                )
            )
        elif line.startswith("/lang "):
            p.users[user]["language"] = line.split()[1]
            await runtime.redis.delete(f"{runtime.keys.prefix}:line:profile:{user}")
            click.echo(f"(LINE language is now {p.users[user]['language']})")
        elif line.startswith("/agent claim"):
            self.agent = line.removeprefix("/agent claim").strip() or self.agent
            # The simulator's operator acts like the admin token under a typed name.
            actor = Actor.admin(self.agent)
            result = await runtime.agents.claim(key, actor, action_id=uuid.uuid4().hex)
            click.echo(f"(agent {self.agent} claim: {result.reason or 'ok'})")
            await asyncio.sleep(0.3)
        elif line == "/agent close":
            actor = Actor.admin(self.agent)
            result = await runtime.agents.close(key, actor, action_id=uuid.uuid4().hex)
            click.echo(f"(agent close: {result.reason or 'ok'})")
            await asyncio.sleep(0.3)
        elif line.startswith("/agent "):
            text = line.removeprefix("/agent ").strip()
            actor = Actor.admin(self.agent)
            result = await runtime.agents.reply(key, actor, text, action_id=uuid.uuid4().hex)
            if not result.ok:
                click.echo(f"(agent reply refused: {result.reason})")
            await asyncio.sleep(0.3)
        elif line.startswith("/"):
            click.echo("unknown command; /help lists them")
        else:
            await self.send(p.text(user, line))

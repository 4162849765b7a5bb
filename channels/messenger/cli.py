"""`tsunagu messenger ...`: chat with the bot as a Messenger or Instagram customer, with no
Meta app.

`tsunagu messenger simulate` starts a fake Meta platform (channels/messenger/fake_platform.py)
and the app with the channel pointed at it, then turns what you type into signed webhooks
and prints what the bot sends back through the Send API. `/later <hours>` makes your last
message that much older, on both sides, to see Meta's 24-hour rule at work.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import click

from bot.actor import Actor
from channels.messenger.fake_platform import FakeMetaPlatform, Sent
from channels.messenger.keys import MetaKeys
from channels.messenger.surface import INSTAGRAM, MESSENGER
from channels.messenger.window import LastMessages
from channels.simulation import TerminalChat, simulate

if TYPE_CHECKING:
    from channels.base import ServeApp, ServedApp, ServedRuntime

HELP = """Type a message and press Enter. A number taps that quick reply.
  /start                     tap the Get Started button
  /image /location           send something that is not text
  /agent claim [name]        an agent takes the conversation (after asking for a person)
  /agent <text>              the agent writes
  /agent close               the agent ends the conversation (the CES question)
  /later <hours>             your last message is that much older (Meta's 24-hour rule)
  /quit"""


class Chat(TerminalChat[FakeMetaPlatform]):
    """The terminal side of a simulated Messenger or Instagram chat."""

    def __init__(self, platform: FakeMetaPlatform, user_id: str):
        super().__init__(platform, user_id)
        self.key = f"{platform.surface.name}:{user_id}"

    def show(self, sent: Sent) -> None:
        """Print what the bot (or an agent) sent."""
        how = sent.tag or sent.messaging_type
        click.echo(f"[{how}] {sent.text}")
        if sent.quick_replies:
            self.quick = sent.quick_replies
            labels = "  ".join(f"[{n}] {q['title']}" for n, q in enumerate(self.quick, 1))
            click.echo(f"        {labels}")

    async def command(self, line: str, runtime: ServedRuntime) -> None:
        """Act on one line typed by the developer."""
        p, user = self.platform, self.user_id
        if line == "/help":
            click.echo(HELP)
        elif line.isdigit() and 1 <= int(line) <= len(self.quick):
            reply = self.quick[int(line) - 1]
            click.echo(f"(tapped: {reply['title']})")
            await self.send(p.quick_reply(user, reply))
        elif line == "/start":
            await self.send(p.postback(user, "GET_STARTED", "Get Started"))
        elif line == "/image":
            await self.send(p.attachment(user, "image"))
        elif line == "/location":
            where = {"lat": 35.6586, "long": 139.7454}
            await self.send(p.attachment(user, "location", "", coordinates=where))
        elif line.startswith("/later"):
            await self.later(line.removeprefix("/later").strip(), runtime)
        elif line.startswith("/agent"):
            await self.act_as_agent(line.removeprefix("/agent").strip(), runtime)
        elif line.startswith("/"):
            click.echo("unknown command; /help lists them")
        else:
            await self.send(p.text(user, line))

    async def later(self, hours: str, runtime: ServedRuntime) -> None:
        """Make the customer's last message `hours` older, at Meta and in Tsunagu."""
        try:
            seconds = float(hours or "1") * 3600
        except ValueError:
            click.echo("usage: /later <hours>")
            return
        name = self.platform.surface.name
        last = LastMessages(runtime.redis, MetaKeys(runtime.keys, name))
        when = await last.last(self.user_id)
        if when is None:
            click.echo("(you have not written yet)")
            return
        key = last.keys.last_message(self.user_id)
        await runtime.redis.set(key, f"{when - seconds:.3f}", keepttl=True)
        self.platform.last_message_at[self.user_id] = when - seconds
        age = (runtime.clock.now() - when + seconds) / 3600
        click.echo(f"(your last message is now {age:.1f} h old)")

    async def act_as_agent(self, what: str, runtime: ServedRuntime) -> None:
        """Claim, reply or close as the agent (the admin's identity under a typed name)."""
        before = len(self.platform.sent)
        action_id = uuid.uuid4().hex
        if what.startswith("claim"):
            self.agent = what.removeprefix("claim").strip() or self.agent
            result = await runtime.agents.claim(
                self.key, Actor.admin(self.agent), action_id=action_id
            )
        elif what == "close":
            result = await runtime.agents.close(
                self.key, Actor.admin(self.agent), action_id=action_id
            )
        else:
            result = await runtime.agents.reply(
                self.key, Actor.admin(self.agent), what, action_id=action_id
            )
        if not result.ok:
            click.echo(f"(agent: {result.reason})")
        await self.platform.wait_until(lambda: len(self.platform.sent) > before, 1.0)
        replied = what not in ("close", "") and not what.startswith("claim")
        if replied and len(self.platform.sent) == before:
            click.echo("(the reply did not reach the customer; the log above says why)")


def messenger_commands(serve: ServeApp) -> click.Group:
    """`tsunagu messenger …`, serving the app with `serve`."""

    @click.group()
    def messenger() -> None:
        """The Messenger and Instagram channels."""

    @messenger.command()
    @click.option("--instagram", is_flag=True, help="Be an Instagram customer (else Messenger).")
    @click.option("--user", "user_id", default="", help="Your customer id (default: a new one).")
    @click.option("--name", default="Hanako Yamada", show_default=True, help="Your name.")
    @click.option("--port", type=int, default=0, help="Port of the app (default: any free one).")
    def simulate(instagram: bool, user_id: str, name: str, port: int) -> None:
        """Chat with the bot as a Messenger (or Instagram) customer, against a fake Meta."""
        user = user_id or str(uuid.uuid4().int)[:16]
        asyncio.run(_simulate(serve, instagram, user, name, port))

    return messenger


async def _simulate(serve: ServeApp, instagram: bool, user_id: str, name: str, port: int) -> None:
    surface = INSTAGRAM if instagram else MESSENGER
    platform = await FakeMetaPlatform(
        surface,
        app_secret=f"sim-{uuid.uuid4().hex}",
        access_token=f"sim-{uuid.uuid4().hex}",
        verify_token=f"sim-{uuid.uuid4().hex}",
    ).start()
    channel_settings = platform.channel_settings()
    if instagram:
        platform.add_user(user_id, name=name, username=name.lower().replace(" ", "_"))
    else:
        first, _, last = name.partition(" ")
        platform.add_user(user_id, first_name=first, last_name=last)
    chat = Chat(platform, user_id)

    async def opening(running: ServedApp) -> None:
        status, _ = await platform.subscribe()
        click.echo(
            f"Fake {surface.name} at {platform.base_url}; Tsunagu at {running.base_url} "
            f"(webhook handshake: {status})"
        )
        click.echo(f'You are "{name}" ({user_id}). /help for help.')
        await chat.send(platform.postback(user_id, "GET_STARTED", "Get Started"))

    await simulate(
        serve,
        chat,
        channel=surface.name,
        channel_settings=channel_settings,
        webhook_path=channel_settings.webhook_path,
        port=port,
        opening=opening,
    )

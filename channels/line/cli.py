"""`tsunagu line ...`: chat with the bot as a LINE user, with no LINE account.

`tsunagu line simulate` starts a fake LINE platform (channels/line/fake_platform.py) and
the app with its LINE channel pointed at it, then turns what you type into signed webhooks
and prints what the bot sends back through the real line-bot-sdk client.

`tsunagu line rich-menu setup` creates the bot-mode and person-mode rich menus on the
account (`--delete` removes them).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.actor import Actor
from channels.line.fake_platform import FakeLinePlatform, Sent
from channels.line.keys import LineKeys
from channels.line.settings import NAME, LineSettings
from channels.simulation import TerminalChat, simulate

if TYPE_CHECKING:
    from channels.base import ServeApp, ServedApp, ServedRuntime
    from channels.line.rich_menus import MenuDesign

HELP = """Type a message and press Enter. A number taps that quick reply.
  /follow /unfollow          add or block the account
  /sticker /image /location  send something that is not text
  /agent claim [name]        an agent takes the conversation (after asking for a person)
  /agent <text>              the agent writes (arrives later: a push)
  /agent close               the agent ends the conversation (the CES question)
  /tap <data>                tap a rich menu button (back_to_bot, queue_status, faq_menu)
  /lang ja|en                change your LINE language
  /quit"""


def line_commands(serve: ServeApp) -> click.Group:
    """`tsunagu line …`, serving the app with `serve`."""

    @click.group()
    def line() -> None:
        """The LINE channel."""

    @line.command()
    @click.option(
        "--user", "user_id", default="Usimulator00000000000000000000001", show_default=True
    )
    @click.option("--name", default="LINE Customer", show_default=True, help="Your display name.")
    @click.option("--language", default="ja", show_default=True, help="Your LINE language.")
    @click.option("--port", type=int, default=0, help="Port of the app (default: any free one).")
    def simulate(user_id: str, name: str, language: str, port: int) -> None:
        """Chat with the bot as a LINE user, against a local fake LINE platform."""
        asyncio.run(_simulate(serve, user_id, name, language, port))

    line.add_command(rich_menu)
    return line


@click.group("rich-menu")
def rich_menu() -> None:
    """The account's rich menus (bot mode and person mode)."""


@rich_menu.command("setup")
@click.option("--delete", is_flag=True, help="Remove the menus this command created instead.")
@click.option("--language", default="ja", show_default=True, help="Language of the labels.")
@click.option(
    "--save-images",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the two images (PNG) to this folder, to look at them.",
)
def rich_menu_setup(delete: bool, language: str, save_images: Path | None) -> None:
    """Create the bot-mode menu (the top FAQ questions and 「人と話す」, made the default) and
    the person-mode menu (「ボットに戻る」 「待ち状況」 「よくある質問」); print their ids.

    Uses LINE_CHANNEL_ACCESS_TOKEN; the labels come from the FAQ and the texts (TEXTS_FILE).
    """
    line_settings = LineSettings()
    if not line_settings.channel_access_token:
        raise click.ClickException("set LINE_CHANNEL_ACCESS_TOKEN first")
    if delete:
        removed = asyncio.run(delete_rich_menus(line_settings))
        click.echo(f"Deleted {len(removed)} rich menus: {' '.join(removed) or '(none)'}")
        return
    menus = draw_rich_menus(language)
    if save_images is not None:
        save_images.mkdir(parents=True, exist_ok=True)
        for design, image in menus:
            (save_images / f"{design.name.lower().replace(' ', '-')}.png").write_bytes(image)
    bot_id, person_id = asyncio.run(setup_rich_menus(line_settings, menus))
    click.echo(f"Bot-mode menu (the default): {bot_id}")
    click.echo(f"Person-mode menu:            {person_id}")
    click.echo("Add to the environment and restart:")
    click.echo(f"  LINE_RICH_MENU_BOT={bot_id}")
    click.echo(f"  LINE_RICH_MENU_PERSON={person_id}")


def draw_rich_menus(language: str = "ja") -> list[tuple[MenuDesign, bytes]]:
    """The bot-mode and person-mode menus and their images, from the FAQ and the texts."""
    from bot.faq import FaqLibrary
    from bot.settings import Settings
    from bot.texts import Texts
    from channels.line.rich_menus import bot_menu, draw, person_menu

    settings = Settings()
    texts = Texts.from_file(settings.texts_file, shop=settings.shop_name)
    faq = FaqLibrary(settings.faq_dir, settings.match_settings())
    designs = [bot_menu(texts, faq.top_entries(5), language), person_menu(texts, language)]
    return [(design, draw(design)) for design in designs]


async def setup_rich_menus(
    line_settings: LineSettings, menus: list[tuple[MenuDesign, bytes]]
) -> tuple[str, str]:
    """Create both menus, make the bot-mode one (the first) the default; returns (bot-mode
    id, person-mode id)."""
    from channels.line.client import LineApi
    from channels.line.rich_menus import request_of

    api = LineApi(line_settings)
    await api.open()
    try:
        ids = [await api.create_rich_menu(request_of(d), image) for d, image in menus]
        await api.set_default_rich_menu(ids[0])
        return ids[0], ids[1]
    finally:
        await api.close()


async def delete_rich_menus(line_settings: LineSettings) -> list[str]:
    """Delete every menu `setup` created (found by name); returns their ids."""
    from channels.line.client import LineApi
    from channels.line.rich_menus import BOT_MENU_NAME, PERSON_MENU_NAME

    api = LineApi(line_settings)
    await api.open()
    try:
        ours = [
            menu_id
            for menu_id, name in await api.rich_menu_ids()
            if name in (BOT_MENU_NAME, PERSON_MENU_NAME)
        ]
        for menu_id in ours:
            await api.delete_rich_menu(menu_id)
        return ours
    finally:
        await api.close()


async def _simulate(serve: ServeApp, user_id: str, name: str, language: str, port: int) -> None:
    platform = await FakeLinePlatform(
        channel_secret=f"sim-{uuid.uuid4().hex}", access_token=f"sim-{uuid.uuid4().hex}"
    ).start()
    line_settings = platform.channel_settings()
    platform.add_user(user_id, name, language)
    chat = _Chat(platform, user_id)

    async def opening(running: ServedApp) -> None:
        click.echo(f"Fake LINE at {platform.base_url}; Tsunagu at {running.base_url}")
        click.echo(f'You are "{name}" ({user_id}), LINE language {language}. /help for help.')
        await chat.send(platform.event("follow", user_id))

    await simulate(
        serve,
        chat,
        channel=NAME,
        channel_settings=line_settings,
        webhook_path=line_settings.webhook_path,
        port=port,
        opening=opening,
    )


class _Chat(TerminalChat[FakeLinePlatform]):
    """The terminal side of a simulated LINE chat."""

    def show(self, sent: Sent) -> None:
        """Print what the bot (or an agent) sent."""
        for message in sent.messages:
            click.echo(f"[{sent.kind}] {message.get('text', message)}")
            items = (message.get("quickReply") or {}).get("items") or []
            if items:
                self.quick = items
                labels = "  ".join(f"[{n}] {i['action']['label']}" for n, i in enumerate(items, 1))
                click.echo(f"        {labels}")

    async def command(self, line: str, runtime: ServedRuntime) -> None:
        """Act on one line typed by the developer."""
        p, user = self.platform, self.user_id
        key = f"{NAME}:{user}"
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
        elif line.startswith("/tap ") and line.split()[1:]:
            await self.send(p.postback(user, line.split()[1]))
        elif line.startswith("/lang "):
            p.users[user]["language"] = line.split()[1]
            await runtime.redis.delete(LineKeys(runtime.keys).profile(user))
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

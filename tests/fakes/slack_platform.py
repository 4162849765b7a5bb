"""The fake Slack platform for the tests, a harness running the app against it, and what
the desk's tests share (starting a workspace, waiting for an escalation, a web customer
who asks for a person).

The platform itself lives in `channels.slack.fake_platform`; the tests import it from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.slack.fake_platform import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    ApiCall,
    FakeSlack,
    Line,
    sign,
)
from tests.webclient import WebCustomer

if TYPE_CHECKING:
    import httpx

    from tests.fakes.line_platform import LineWorld

__all__ = [
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "DESK",
    "SECRET",
    "TEAM_ID",
    "ApiCall",
    "FakeSlack",
    "Line",
    "SlackTestApp",
    "escalate",
    "escalated_web_customer",
    "escalations",
    "line_world_with_slack",
    "serve_with_slack",
    "sign",
    "slack_on",
    "started_slack",
]

DESK = "C0DESK"  # the channel the agents' desk posts escalations in
SECRET = "test-signing-secret"


@dataclass
class SlackTestApp:
    """The real app (with its Slack channel) on a loopback port, and the fake it talks to."""

    runtime: Any
    slack: Any
    fake: FakeSlack
    base_url: str


@asynccontextmanager
async def serve_with_slack(
    settings: Any, fake: FakeSlack, handoff_channel: str = "C0DESK"
) -> AsyncIterator[SlackTestApp]:
    """Serve the app with its Slack channel and desk pointed at `fake`."""

    from bot.composition.app import serve_app
    from channels.slack.settings import NAME

    with_slack = settings.model_copy(
        update={"channels": {**settings.channels, NAME: fake.channel_settings(handoff_channel)}}
    )
    async with serve_app(with_slack) as served:
        fake.app_url = served.base_url
        yield SlackTestApp(served.runtime, served.runtime.channel(NAME), fake, fake.app_url)


def slack_on(fake: FakeSlack, handoff_channel: str = "C0DESK") -> dict[str, Any]:
    """`Settings.channels` with the Slack channel and desk pointed at `fake`."""
    return {"slack": fake.channel_settings(handoff_channel)}


@asynccontextmanager
async def line_world_with_slack(
    settings: Any, fake: FakeSlack, handoff_channel: str = "C0DESK"
) -> AsyncIterator[LineWorld]:
    """The app on the fake LINE platform (`line_world`), with its Slack channel and desk
    pointed at `fake` too."""
    from tests.fakes.line_platform import line_world

    with_slack = settings.model_copy(
        update={"channels": {**settings.channels, **slack_on(fake, handoff_channel)}}
    )
    async with line_world(with_slack) as world:
        fake.app_url = world.app.base_url
        yield world


@asynccontextmanager
async def started_slack(*users: tuple[str, ...], secret: str = SECRET) -> AsyncIterator[FakeSlack]:
    """A fake Slack on a loopback port whose workspace has `users`, each (id, display name)
    or (id, display name, real name); stopped when the block ends."""
    fake = FakeSlack(secret)
    await fake.start()
    for user in users:
        fake.add_user(*user)
    try:
        yield fake
    finally:
        await fake.stop()


async def escalations(fake: FakeSlack, desk: str = DESK) -> list[ApiCall]:
    """The escalations posted in the desk (its top-level messages), once there is one."""
    found: list[ApiCall] = await fake.wait_for(
        lambda: [p for p in fake.posts(desk) if "thread_ts" not in p.args], what="escalation"
    )
    return found


async def escalate(customer: WebCustomer, fake: FakeSlack) -> ApiCall:
    """The web customer asks for a person (and is told they wait); returns the escalation
    message in the desk."""
    await customer.say("人と話したい")
    await customer.next_from("bot", kind="notice")
    return (await escalations(fake))[-1]


async def escalated_web_customer(
    http: httpx.AsyncClient, fake: FakeSlack
) -> tuple[WebCustomer, ApiCall]:
    """A new web customer, greeted, asks for a person; returns them and the escalation."""
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    return customer, await escalate(customer, fake)

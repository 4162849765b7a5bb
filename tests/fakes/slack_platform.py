"""The fake Slack platform for the tests, and a harness running the app against it.

The platform itself lives in `channels.slack.fake_platform`; the tests import it from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

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

__all__ = [
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "TEAM_ID",
    "ApiCall",
    "FakeSlack",
    "Line",
    "SlackTestApp",
    "serve_with_slack",
    "sign",
    "slack_on",
]


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

"""The fake LINE platform for the tests, and a harness running the app against it.

The platform itself lives in `channels.line.fake_platform` so that `tsunagu line
simulate` can use it from an installed copy; the tests import it from here.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.composition.app import serve_app
from bot.composition.runtime import Runtime
from bot.model import Outgoing, Reply
from bot.settings import Settings
from channels.line.adapter import LineChannel
from channels.line.fake_platform import FakeLinePlatform, Sent, sign
from channels.line.settings import NAME

__all__ = ["FakeLinePlatform", "LineApp", "LineWorld", "Sent", "line_world", "sign"]


@dataclass
class LineWorld:
    """The fake LINE platform and the app whose LINE channel points at it."""

    platform: FakeLinePlatform
    app: LineApp

    def new_user(self, name: str = "Customer", language: str = "ja") -> str:
        """A fresh LINE user with a profile."""
        user_id = "U" + uuid.uuid4().hex
        self.platform.add_user(user_id, name, language)
        return user_id

    async def channel_send(self, user_id: str, reply: Reply) -> None:
        """Send one reply through the delivery (LINE's sender, and retries if LINE fails),
        as a late agent message is sent."""
        await self.app.runtime.delivery.send(
            [
                Outgoing(
                    message_id=uuid.uuid4().hex,
                    channel=NAME,
                    user_id=user_id,
                    conversation_id="test",
                    reply=reply,
                )
            ]
        )


@dataclass
class LineApp:
    """The app serving on a loopback port with its LINE channel."""

    runtime: Runtime
    channel: LineChannel
    base_url: str
    webhook_url: str


@contextlib.asynccontextmanager
async def line_world(settings: Settings, **line: Any) -> AsyncIterator[LineWorld]:
    """Start the fake platform and the app (LINE settings from `line`, e.g.
    `reply_token_ttl_seconds=0.01`), both on loopback ports."""
    platform = await FakeLinePlatform(
        channel_secret=f"secret-{uuid.uuid4().hex}", access_token=f"token-{uuid.uuid4().hex}"
    ).start()
    line_settings = platform.channel_settings(**line)
    with_line = settings.model_copy(update={"channels": {**settings.channels, NAME: line_settings}})
    try:
        async with serve_app(with_line) as served:
            channel = served.runtime.channel(NAME)
            assert isinstance(channel, LineChannel)
            app = LineApp(
                served.runtime,
                channel,
                served.base_url,
                served.base_url + line_settings.webhook_path,
            )
            platform.webhook_url = app.webhook_url
            yield LineWorld(platform, app)
    finally:
        await platform.stop()

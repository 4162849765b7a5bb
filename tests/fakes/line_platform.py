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

import pytest

from bot.model import Channel, Outgoing, Reply
from bot.settings import Settings
from channels.line.cli import LineApp, serve_with_line
from channels.line.fake_platform import FakeLinePlatform, Sent, sign
from channels.line.settings import LineSettings

__all__ = ["FakeLinePlatform", "LineWorld", "Sent", "line_world", "sign"]


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
                    channel=Channel.LINE,
                    user_id=user_id,
                    conversation_id="test",
                    reply=reply,
                )
            ]
        )


@contextlib.asynccontextmanager
async def line_world(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, **line: Any
) -> AsyncIterator[LineWorld]:
    """Start the fake platform and the app (LINE settings from `line`, e.g.
    `reply_token_ttl_seconds=0.01`), both on loopback ports."""
    platform = await FakeLinePlatform(
        channel_secret=f"secret-{uuid.uuid4().hex}", access_token=f"token-{uuid.uuid4().hex}"
    ).start()
    env = {
        **platform.env(),
        **{f"LINE_{name.upper()}": str(value) for name, value in line.items()},
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # a runtime that builds its own LINE channel reads these
    try:
        async with serve_with_line(settings, LineSettings(_env_file=None)) as app:  # type: ignore[call-arg]
            platform.webhook_url = app.webhook_url
            yield LineWorld(platform, app)
    finally:
        await platform.stop()

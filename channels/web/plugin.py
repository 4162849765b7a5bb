"""The web channel as the registry knows it."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.channel_catalog import Label
from bot.settings import Settings
from bot.storage import Keys
from channels.base import ChannelParts, ChannelPlugin, RunningChannel
from channels.web.settings import NAME, WebSettings


class WebPlugin(ChannelPlugin[WebSettings]):
    """The web widget and its HTTP/WebSocket API, always on."""

    name = NAME
    label = Label(ja="Web", en="Web")
    settings_type = WebSettings

    def build(self, settings: WebSettings, parts: ChannelParts) -> RunningChannel:
        """The widget's API, the widget, the demo page and the message streams."""
        from channels.web.adapter import WebChannel

        return WebChannel(parts)

    async def customer_keys(self, redis: Redis, keys: Keys, customer_key: str) -> list[str]:
        """A web customer's rate-limit counter (its stream is among their own keys)."""
        channel, _, user_id = customer_key.partition(":")
        return [keys.rate_limit("web_token", user_id)] if channel == NAME else []

    async def erased(self, redis: Redis, keys: Keys, customer_key: str, settings: Settings) -> None:
        """Revoke a forgotten web customer's token for as long as it could still be valid
        (`WEB_TOKEN_TTL_SECONDS`), so it cannot start a new conversation."""
        channel, _, user_id = customer_key.partition(":")
        if channel == NAME:
            await redis.set(keys.web_revoked(user_id), "1", ex=settings.web_token_ttl_seconds)


CHANNEL = WebPlugin()

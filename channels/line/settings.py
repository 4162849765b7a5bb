"""The LINE channel's settings, read from `LINE_*` environment variables or `.env`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bot.settings import ChannelSettings

NAME = "line"  # the channel's name: in customer keys (`line:<user>`), records and lanes


class LineSettings(ChannelSettings):
    """How Tsunagu talks to one LINE official account (Messaging API channel)."""

    model_config = SettingsConfigDict(
        env_prefix="LINE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    channel_secret: str | None = Field(
        default=None, description="Channel secret (Basic settings): verifies webhooks."
    )
    channel_access_token: str | None = Field(
        default=None, description="Long-lived channel access token (Messaging API tab)."
    )
    api_base_url: str = Field(
        default="https://api.line.me", description="Messaging API host (a fake one in tests)."
    )
    data_api_base_url: str = Field(
        default="https://api-data.line.me", description="Host serving message content."
    )
    webhook_path: str = Field(default="/line/webhook", description="Path of the webhook.")
    public_base_url: str = Field(
        default="",
        description="This server's public URL (unset: `PUBLIC_BASE_URL`); prefixes the "
        "content links agents get for images and files (both unset: relative paths).",
    )
    group_mode: Literal["ignore", "mention"] = Field(
        default="ignore",
        description="In groups and rooms: 'ignore' them, or answer only when mentioned.",
    )
    reply_token_ttl_seconds: float = Field(
        default=50.0,
        gt=0,
        description="How long after the event a reply token is still used; older: push.",
    )
    profile_timeout_seconds: float = Field(
        default=0.5,
        ge=0,
        description="Longest the worker waits for a customer's profile (language, name).",
    )
    profile_cache_seconds: int = Field(
        default=24 * 3600, description="How long a customer's profile is cached in Redis."
    )
    loading_after_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Show LINE's loading animation when no answer was sent after this long.",
    )
    loading_seconds: int = Field(
        default=20, ge=5, le=60, multiple_of=5, description="How long the animation lasts."
    )
    max_connections: int = Field(
        default=100,
        ge=1,
        description="Most calls to the Messaging API in flight at once, per process.",
    )
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one call to the Messaging API."
    )
    rich_menu_bot: str = Field(
        default="",
        description="Rich menu id of bot mode (`tsunagu line rich-menu setup` prints it); "
        "made the account's default at start-up. Empty or 'off': left alone.",
    )
    rich_menu_person: str = Field(
        default="",
        description="Rich menu id of person mode, linked to a customer handed to a person "
        "and unlinked when they are back with the bot. Empty or 'off': no menu switching.",
    )
    push_budget: int | None = Field(
        default=None,
        ge=0,
        description="Pushes a month after which optional pushes (a survey after an agent's "
        "close, queue notices, follow-up notices) are no longer sent; an agent's reply "
        "always is. Unset: no budget.",
    )
    quota_refresh_seconds: float = Field(
        default=300.0,
        ge=10,
        description="How long LINE's quota and consumption figures are reused before "
        "they are read again.",
    )

    @property
    def enabled(self) -> bool:
        """True when both the channel secret and the access token are set."""
        return bool(self.channel_secret and self.channel_access_token)

    @property
    def person_menu(self) -> str | None:
        """The person-mode rich menu's id, or None when menu switching is off."""
        return _menu_id(self.rich_menu_person)

    @property
    def bot_menu(self) -> str | None:
        """The bot-mode rich menu's id, or None when it is left alone."""
        return _menu_id(self.rich_menu_bot)

    @property
    def content_path(self) -> str:
        """Path prefix of the signed links to message content (images, files)."""
        base = self.webhook_path.rstrip("/").rsplit("/", 1)[0]
        return f"{base}/content"


def _menu_id(value: str) -> str | None:
    value = value.strip()
    return None if value.lower() in ("", "off", "none", "false") else value

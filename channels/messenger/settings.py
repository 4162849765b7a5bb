"""Settings of Meta's two messaging channels, read from `MESSENGER_*` and `INSTAGRAM_*`
environment variables or `.env`.

Messenger (a Facebook Page's inbox) and Instagram Direct (a professional account's inbox)
share Meta's Messenger Platform: the same webhooks, the same Send API. Each has its own
settings, so a shop can run either or both (from one Meta app or two). The channel itself
reads them as one `MetaAccount`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bot.settings import ChannelSettings

GRAPH_API_VERSION = "v25.0"
DEFAULT_API_BASE_URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}"


@dataclass(frozen=True)
class MetaAccount:
    """One Messenger Page or Instagram account, as the channel uses it."""

    access_token: str
    account_id: str  # sends go to /{account_id}/messages ("me": the token's own)
    app_secret: str
    verify_token: str
    api_base_url: str
    webhook_path: str
    request_timeout_seconds: float
    max_connections: int
    profile_timeout_seconds: float


class _MetaSettings(ChannelSettings):
    """The settings both channels have, under their own prefix."""

    app_secret: str | None = Field(
        default=None,
        description="App secret (App settings → Basic): verifies each webhook's "
        "X-Hub-Signature-256.",
    )
    verify_token: str | None = Field(
        default=None,
        description="A string you choose and type into the app's webhook settings; Meta "
        "sends it back once when the webhook is set up.",
    )
    api_base_url: str = Field(
        default=DEFAULT_API_BASE_URL,
        description="Graph API base URL with its version (a fake one in tests).",
    )
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one call to the Send API."
    )
    max_connections: int = Field(
        default=100, ge=1, description="Most calls to the Send API in flight at once, per process."
    )
    profile_timeout_seconds: float = Field(
        default=0.5,
        ge=0,
        description="Longest the worker waits for a customer's name before answering them "
        "(a late one is cached for their next message); the webhook never waits for it.",
    )

    def _account(self, token: str | None, account_id: str, webhook_path: str) -> MetaAccount:
        return MetaAccount(
            access_token=token or "",
            account_id=account_id,
            app_secret=self.app_secret or "",
            verify_token=self.verify_token or "",
            api_base_url=self.api_base_url.rstrip("/"),
            webhook_path=webhook_path,
            request_timeout_seconds=self.request_timeout_seconds,
            max_connections=self.max_connections,
            profile_timeout_seconds=self.profile_timeout_seconds,
        )


class MessengerSettings(_MetaSettings):
    """How Tsunagu talks to customers of one Facebook Page on Messenger."""

    model_config = SettingsConfigDict(
        env_prefix="MESSENGER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    page_access_token: str | None = Field(
        default=None,
        description="Page access token (pages_messaging permission): authorises sends.",
    )
    page_id: str = Field(
        default="me", description="The Page's id; `me` (the token's own Page) works as well."
    )
    webhook_path: str = Field(
        default="/messenger/webhook", description="Path Meta posts the Page's events to."
    )

    @property
    def enabled(self) -> bool:
        """True when the Page access token, the app secret and the verify token are set."""
        return bool(self.page_access_token and self.app_secret and self.verify_token)

    def account(self) -> MetaAccount:
        """The Page as the channel uses it."""
        return self._account(self.page_access_token, self.page_id, self.webhook_path)


class InstagramSettings(_MetaSettings):
    """How Tsunagu talks to customers of one Instagram professional account (Direct)."""

    model_config = SettingsConfigDict(
        env_prefix="INSTAGRAM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    access_token: str | None = Field(
        default=None,
        description="The Page access token of the Facebook Page linked to the account "
        "(instagram_manage_messages); with Instagram Login, the account's own token (and "
        "INSTAGRAM_API_BASE_URL=https://graph.instagram.com/<version>).",
    )
    account_id: str = Field(
        default="me",
        description="The id sends are made from: the linked Page's id, or the Instagram "
        "account's id with Instagram Login; `me` is the token's own.",
    )
    webhook_path: str = Field(
        default="/instagram/webhook", description="Path Meta posts the account's events to."
    )

    @property
    def enabled(self) -> bool:
        """True when the access token, the app secret and the verify token are set."""
        return bool(self.access_token and self.app_secret and self.verify_token)

    def account(self) -> MetaAccount:
        """The Instagram account as the channel uses it."""
        return self._account(self.access_token, self.account_id, self.webhook_path)

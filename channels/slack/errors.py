"""What slack_sdk's failures mean, as `bot.errors` types (the Slack boundary's one rule)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.conversation import DeskEvent
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter, TsunaguError
from bot.ports import Desk
from channels.slack.settings import NAME

# Web API error codes that say "Slack's side, for now" (documented on every method).
_TRANSIENT_CODES = {
    "ratelimited",
    "service_unavailable",
    "fatal_error",
    "internal_error",
    "request_timeout",
}
_DEFAULT_RETRY_AFTER = 30.0


def classify(exc: Exception) -> TsunaguError | None:
    """The `bot.errors` meaning of a failed Web API call, or None if it is not one (a bug).

    - 429 (or `ratelimited`): `RetryAfter`, with Slack's `Retry-After`;
    - 5xx, a transient error code, no answer (refused, reset, timed out):
      `PlatformUnavailable`;
    - any other error code (`invalid_auth`, `channel_not_found`, `invalid_blocks`, ...):
      `PermanentFailure`.
    """
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
        headers = getattr(response, "headers", None) or {}
        data = getattr(response, "data", None)
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 429 or code == "ratelimited":
            return RetryAfter(NAME, _seconds(headers.get("Retry-After")), "HTTP 429")
        if status >= 500 or code in _TRANSIENT_CODES:
            return PlatformUnavailable(NAME, f"HTTP {status} {code}".strip())
        return PermanentFailure(NAME, code or f"HTTP {status}")
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return PlatformUnavailable(NAME, repr(exc))
    return None


def _seconds(value: object) -> float:
    try:
        return max(float(str(value)), 0.0) if value is not None else _DEFAULT_RETRY_AFTER
    except ValueError:
        return _DEFAULT_RETRY_AFTER


class TypedDesk:
    """The Slack desk as the dispatcher tells it things: its Web API failures raised as
    `bot.errors` types, so a Slack outage parks the notice instead of failing the event."""

    name = "slack"

    def __init__(self, desk: Desk):
        self._desk = desk

    async def notify(self, event: DeskEvent) -> None:
        """Post the event to the handoff channel, or raise why not."""
        try:
            await self._desk.notify(event)
        except Exception as exc:
            typed = classify(exc)
            if typed is None:
                raise
            raise typed from exc

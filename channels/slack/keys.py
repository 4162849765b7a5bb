"""Names of the Slack channel's and desk's own Redis keys, built by the app's `Keys`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage import Keys
from channels.slack.settings import NAME


@dataclass(frozen=True)
class SlackKeys:
    """Where Slack keeps its caches, event markers and the desk's thread index."""

    keys: Keys

    @classmethod
    def of(cls, key_prefix: str) -> SlackKeys:
        """The keys under one app key prefix."""
        return cls(Keys(key_prefix))

    def user(self, user_id: str) -> str:
        """A Slack user's cached display name."""
        return self.keys.channel(NAME, "user", user_id)

    def event(self, event_id: str) -> str:
        """Marks one Events API delivery as taken (Slack redelivers)."""
        return self.keys.channel(NAME, "event", event_id)

    def thread(self, ts: str) -> str:
        """Which conversation a desk message (escalation, low-score alert) belongs to."""
        return self.keys.channel(NAME, "thread", ts)

    def thread_pattern(self) -> str:
        """A SCAN pattern matching every desk message's index entry."""
        return self.keys.channel(NAME, "thread", "*")

    def suggestions(self, ts: str) -> str:
        """The FAQ answers suggested under one desk message."""
        return self.keys.channel(NAME, "suggestions", ts)

    def customer_thread(self, customer_key: str) -> str:
        """The customer's latest escalation thread."""
        return self.keys.customer(customer_key, "slack_thread")

    def desk_marker(self, customer_key: str, marker: str) -> str:
        """Marks one desk notice about the customer as posted (notices are retried)."""
        return self.keys.customer(customer_key, "slack_desk", marker)

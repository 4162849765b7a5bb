"""The Slack channel: customers' direct messages, and the agents' desk in a channel."""

from channels.slack.adapter import SlackChannel
from channels.slack.settings import SlackSettings

__all__ = ["SlackChannel", "SlackSettings"]

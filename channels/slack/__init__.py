"""The Slack channel: customers' direct messages, and the agents' desk in a channel."""

from channels.slack.plugin import CHANNEL
from channels.slack.settings import SlackSettings

__all__ = ["CHANNEL", "SlackSettings"]

"""The LINE channel: webhook in, Messaging API (line-bot-sdk v3) out."""

from channels.line.plugin import CHANNEL
from channels.line.settings import LineSettings

__all__ = ["CHANNEL", "LineSettings"]

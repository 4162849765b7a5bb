"""The LINE channel: webhook in, Messaging API (line-bot-sdk v3) out."""

from channels.line.adapter import LineChannel
from channels.line.settings import LineSettings

__all__ = ["LineChannel", "LineSettings"]

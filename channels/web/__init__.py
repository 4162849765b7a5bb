"""The web channel: an HTTP/WebSocket API and the embeddable chat widget."""

from channels.web.plugin import CHANNEL

__all__ = ["CHANNEL"]

"""The web channel: an HTTP/WebSocket API and the embeddable chat widget."""

from channels.web.adapter import WebChannel

__all__ = ["WebChannel"]

"""Instagram Direct, the registry's second entry in this package (Messenger's twin)."""

from channels.messenger.plugin import InstagramPlugin

CHANNEL = InstagramPlugin()

__all__ = ["CHANNEL"]

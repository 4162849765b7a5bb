"""Messenger and Instagram Direct: Meta's Messenger Platform webhooks in, Send API out.

One implementation serves both products (`Surface` says which). The registry lists this
package (Messenger) and `channels.messenger.instagram` (Instagram).
"""

from channels.messenger.plugin import MessengerPlugin
from channels.messenger.settings import InstagramSettings, MessengerSettings

CHANNEL = MessengerPlugin()

__all__ = ["CHANNEL", "InstagramSettings", "MessengerSettings"]

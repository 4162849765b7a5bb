"""Messenger and Instagram Direct: Meta's Messenger Platform webhooks in, Send API out.

One implementation (`MetaChannel`) serves both products; `Surface` says which.
"""

from channels.messenger.adapter import MetaChannel
from channels.messenger.settings import InstagramSettings, MessengerSettings
from channels.messenger.surface import INSTAGRAM, MESSENGER

__all__ = ["INSTAGRAM", "MESSENGER", "InstagramSettings", "MessengerSettings", "MetaChannel"]

"""Names of the Messenger and Instagram channels' own Redis keys, built by the app's `Keys`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage import Keys


@dataclass(frozen=True)
class MetaKeys:
    """Where one of the two channels (`channel`: messenger or instagram) keeps its markers."""

    keys: Keys
    channel: str

    def last_message(self, user_id: str) -> str:
        """When the customer last wrote: the start of Meta's messaging window (one of the
        customer's own keys, erased with them)."""
        return self.keys.customer(f"{self.channel}:{user_id}", "last_message")

    def profile(self, user_id: str) -> str:
        """The customer's cached name."""
        return self.keys.channel(self.channel, "profile", user_id)

    def sent(self, user_id: str, part_id: str) -> str:
        """Marks one Send API call's message as sent."""
        return self.keys.sent(f"{self.channel}:{user_id}", part_id)

    def outside_customer(self, user_id: str) -> list[str]:
        """The keys about the customer outside their own (`Keys.customer`) keys: for
        `forget`, which finds their own by itself."""
        return [self.profile(user_id)]

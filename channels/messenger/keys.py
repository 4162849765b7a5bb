"""Names of the Messenger and Instagram channels' own Redis keys, under the app's prefix."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage import Keys


@dataclass(frozen=True)
class MetaKeys:
    """Where one of the two channels (`channel`: messenger or instagram) keeps its markers."""

    keys: Keys
    channel: str

    def last_message(self, user_id: str) -> str:
        """When the customer last wrote: the start of Meta's messaging window."""
        return f"{self.keys.prefix}:{self.channel}:last_message:{user_id}"

    def profile(self, user_id: str) -> str:
        """The customer's cached name."""
        return f"{self.keys.prefix}:{self.channel}:profile:{user_id}"

    def sent(self, user_id: str, part_id: str) -> str:
        """Marks one Send API call's message as sent."""
        return self.keys.sent(f"{self.channel}:{user_id}", part_id)

    def of_customer(self, user_id: str) -> list[str]:
        """The keys outside the customer's conversation that name them (for `forget`)."""
        return [self.last_message(user_id), self.profile(user_id)]

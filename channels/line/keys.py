"""Names of the LINE channel's own Redis keys, built by the app's `Keys`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage import Keys
from channels.line.settings import NAME


@dataclass(frozen=True)
class LineKeys:
    """Where the LINE channel keeps its markers and caches."""

    keys: Keys

    def profile(self, user_id: str) -> str:
        """A user's cached profile (display name and language)."""
        return self.keys.channel(NAME, "profile", user_id)

    def reply_token(self, token: str) -> str:
        """Set once a reply token has been taken: a token works only once."""
        return self.keys.channel(NAME, "reply_token", token)

    def unreachable(self, user_id: str) -> str:
        """Set while a user cannot be sent to (blocked us); cleared when they write again."""
        return self.keys.channel(NAME, "unreachable", user_id)

    def latest_reply_token(self, user_id: str) -> str:
        """The reply token of the customer's latest event and its time (a hash): a send
        with no token of its own (an agent's) may use it while it is fresh and unused."""
        return self.keys.channel(NAME, "latest_token", user_id)

    def borrowed_token(self, call_id: str) -> str:
        """The reply token (and its time) an API call with none of its own chose, or "" for
        none: set once, so a replay of the call uses what its first attempt used."""
        return self.keys.channel(NAME, "borrowed_token", call_id)

    def read_token(self, user_id: str) -> str:
        """The `markAsReadToken` of the customer's latest message not yet marked read."""
        return self.keys.channel(NAME, "read_token", user_id)

    def sends(self, month: str) -> str:
        """Sends of one month (`YYYY-MM`, Japan time), counted by `kind:reason` (a hash)."""
        return self.keys.channel(NAME, "sends", month)

    def quota(self) -> str:
        """LINE's quota and consumption as last read (reused for a few minutes)."""
        return self.keys.channel(NAME, "quota")

    def bot_info(self) -> str:
        """The bot's chat settings as read at start-up."""
        return self.keys.channel(NAME, "bot_info")

    def customer_keys(self, user_id: str) -> list[str]:
        """Every key this channel keeps about one customer (for `tsunagu forget`)."""
        return [
            self.profile(user_id),
            self.unreachable(user_id),
            self.latest_reply_token(user_id),
            self.read_token(user_id),
        ]

    def sent(self, user_id: str, call_id: str) -> str:
        """Marks one API call's messages as delivered."""
        return self.keys.sent(f"{NAME}:{user_id}", f"{NAME}:{call_id}")

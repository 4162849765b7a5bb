"""Names of the LINE channel's own Redis keys, all under the app's key prefix."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage import Keys


@dataclass(frozen=True)
class LineKeys:
    """Where the LINE channel keeps its markers and caches."""

    keys: Keys

    def profile(self, user_id: str) -> str:
        """A user's cached profile (display name and language)."""
        return f"{self.keys.prefix}:line:profile:{user_id}"

    def reply_token(self, token: str) -> str:
        """Set once a reply token has been taken: a token works only once."""
        return f"{self.keys.prefix}:line:reply_token:{token}"

    def unreachable(self, user_id: str) -> str:
        """Set while a user cannot be sent to (blocked us); cleared when they write again."""
        return f"{self.keys.prefix}:line:unreachable:{user_id}"

    def latest_reply_token(self, user_id: str) -> str:
        """The reply token of the customer's latest event and its time (a hash): a send
        with no token of its own (an agent's) may use it while it is fresh and unused."""
        return f"{self.keys.prefix}:line:latest_token:{user_id}"

    def read_token(self, user_id: str) -> str:
        """The `markAsReadToken` of the customer's latest message not yet marked read."""
        return f"{self.keys.prefix}:line:read_token:{user_id}"

    def sends(self, month: str) -> str:
        """Sends of one month (`YYYY-MM`, Japan time), counted by `kind:reason` (a hash)."""
        return f"{self.keys.prefix}:line:sends:{month}"

    def quota(self) -> str:
        """LINE's quota and consumption as last read (reused for a few minutes)."""
        return f"{self.keys.prefix}:line:quota"

    def bot_info(self) -> str:
        """The bot's chat settings as read at start-up."""
        return f"{self.keys.prefix}:line:bot_info"

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
        return self.keys.sent(f"line:{user_id}", f"line:{call_id}")

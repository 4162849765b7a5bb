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

    def sent(self, user_id: str, call_id: str) -> str:
        """Marks one API call's messages as delivered."""
        return self.keys.sent(f"line:{user_id}", f"line:{call_id}")

"""Who acts on a conversation: an agent's stable identity, and the name customers see.

An agent is an id, never a name. Two people called 佐藤 are two agents; the admin token
acting under a typed name is its own identity and can never become another one. The name
is only a label: it is shown to customers and in reports, and may change.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The kinds of identity, by the id's prefix.
SLACK, CONSOLE, ADMIN = "slack", "console", "admin"
LEGACY = "legacy"  # a conversation stored before agents had ids: only its name is known


class Actor(BaseModel):
    """An agent: a stable `id` (`slack:U…`, `console:<token name>`, `admin:<typed name>`)
    and the display `name` shown to customers."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable identity; every permission check compares this.")
    name: str = Field(description="Display label; may be shared by several agents.")

    @classmethod
    def slack(cls, user_id: str, display_name: str) -> Actor:
        """A Slack user, whatever their display name is today."""
        return cls(id=f"{SLACK}:{user_id}", name=display_name)

    @classmethod
    def console(cls, token_name: str) -> Actor:
        """The holder of the agent token configured under `token_name` in `AGENT_TOKENS`."""
        return cls(id=f"{CONSOLE}:{token_name}", name=token_name)

    @classmethod
    def admin(cls, typed_name: str) -> Actor:
        """The admin token, acting under the name its user typed.

        Its id lives in its own namespace, so it can never equal a Slack user's or an
        agent token's id.
        """
        return cls(id=f"{ADMIN}:{typed_name}", name=typed_name)


def legacy_id(name: str) -> str:
    """The id given to an agent known only by name (records and conversations stored
    before agents had ids). No desk request ever acts under it."""
    return f"{LEGACY}:{name}"

"""A customer's earlier conversations on every channel they linked, newest first."""

from __future__ import annotations

from bot.identity import Identities, channel_of
from bot.store.conversations import RedisConversationStore


async def customer_history(
    store: RedisConversationStore, identities: Identities, customer_key: str
) -> list[dict[str, object]]:
    """Summaries of the earlier conversations of every identity of the customer, each
    marked with the channel it was on (`channel`), newest first."""
    items: list[dict[str, object]] = []
    for member in await identities.members(customer_key):
        for item in await store.history(member):
            item.setdefault("channel", channel_of(member))
            items.append(item)

    def closed_at(item: dict[str, object]) -> float:
        value = item.get("closed_at")
        return float(value) if isinstance(value, int | float) else 0.0

    items.sort(key=closed_at, reverse=True)
    return items

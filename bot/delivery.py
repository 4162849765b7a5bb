"""Routes each outgoing message to the sender of its channel."""

from __future__ import annotations

import logging

from bot.model import Channel, Outgoing
from bot.ports import Sender

log = logging.getLogger("tsunagu.delivery")


class Delivery:
    """The senders of every configured channel, by channel."""

    def __init__(self, senders: list[Sender] | None = None):
        self._senders: dict[Channel, Sender] = {}
        for sender in senders or []:
            self.register(sender)

    def register(self, sender: Sender) -> None:
        """Add (or replace) the sender of one channel."""
        self._senders[sender.channel] = sender

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver one event's replies on their channel; raises if a retry may help."""
        if not batch:
            return
        channel = batch[0].channel
        sender = self._senders.get(channel)
        if sender is None:
            # A channel switched off since the customer wrote: nothing can reach them.
            log.error("no sender for channel", extra={"channel": channel.value})
            return
        await sender.send(batch)

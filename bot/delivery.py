"""Routes each outgoing message to the sender of its channel, and decides what a failed
send means: parked for a retry while its platform is unavailable, or recorded as never
deliverable when the platform refused it for good."""

from __future__ import annotations

import logging
import time

from bot import metrics
from bot.conversation import DeskEvent
from bot.errors import PermanentFailure, PlatformUnavailable
from bot.model import Channel, Outgoing, ReplyKind
from bot.outbound import Clock, OutboundRetries, OutboundSweeper, send_id
from bot.ports import Desk, Sender

log = logging.getLogger("tsunagu.delivery")

_FAILED_KEPT = 10_000


class Delivery:
    """The senders of every configured channel, by channel, and their parked retries."""

    def __init__(
        self,
        retries: OutboundRetries,
        senders: list[Sender] | None = None,
        *,
        clock: Clock = time.time,
    ):
        self.retries = retries
        self.clock = clock
        self._senders: dict[Channel, Sender] = {}
        # Where agents work: told when one of their replies can never be delivered. The
        # runtime shares the dispatcher's list of desks here.
        self.desks: list[Desk] = []
        for sender in senders or []:
            self.register(sender)

    def register(self, sender: Sender) -> None:
        """Add (or replace) the sender of one channel."""
        self._senders[sender.channel] = sender

    @property
    def channels(self) -> list[Channel]:
        """The channels with a sender."""
        return list(self._senders)

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver one event's replies on their channel, or park them for a retry.

        Returns once they are delivered, parked or recorded as undeliverable: a platform
        outage never fails the event. Raises only `StorageUnavailable` (and bugs).
        """
        if not batch:
            return
        first = batch[0]
        customer_key = f"{first.channel.value}:{first.user_id}"
        if await self.retries.waiting(customer_key):
            # Earlier replies to this customer wait for their platform: never overtake them.
            if await self.retries.park(batch, self.clock()):
                log.info(
                    "outbound: queued behind earlier sends",
                    extra={"channel": first.channel.value, "customer": customer_key},
                )
            return
        try:
            await self.attempt(batch)
        except PlatformUnavailable as exc:
            if await self.retries.park(batch, self.clock(), exc):
                metrics.OUTBOUND_PARKED.labels(first.channel.value).inc()
                log.warning(
                    "outbound: platform unavailable, parked for a retry",
                    extra={
                        "channel": first.channel.value,
                        "customer": customer_key,
                        "send": send_id(batch),
                        "error": exc.reason,
                    },
                )
        except PermanentFailure as exc:
            await self.undeliverable(batch, exc.reason)

    async def attempt(self, batch: list[Outgoing]) -> None:
        """Try a batch once on its channel; raises the `bot.errors` platform failures."""
        channel = batch[0].channel
        sender = self._senders.get(channel)
        if sender is None:
            raise PermanentFailure(channel, "the channel is not configured")
        await sender.send(batch)

    async def undeliverable(
        self, batch: list[Outgoing], reason: str, *, gave_up: bool = False
    ) -> None:
        """A batch that will never be delivered (refused for good, or `gave_up` retrying):
        record it, log it, tell the agents."""
        first = batch[0]
        channel = first.channel.value
        why = "gave_up" if gave_up else "refused"
        metrics.OUTBOUND_FAILED.labels(channel, why).inc()
        log.error(
            "outbound: not delivered",
            extra={
                "channel": channel,
                "customer": f"{channel}:{first.user_id}",
                "send": send_id(batch),
                "reason": reason[:300],
            },
        )
        await self.retries.redis.xadd(
            self.retries.keys.outbound_failed(),
            {
                "channel": channel,
                "user_id": first.user_id,
                "conversation_id": first.conversation_id,
                "message_ids": ",".join(o.message_id for o in batch),
                "reason": reason[:300],
                "time": f"{self.clock():.3f}",
            },
            maxlen=_FAILED_KEPT,
        )
        for outgoing in batch:
            if outgoing.reply.kind is ReplyKind.AGENT:
                await self._tell_agents(outgoing, reason)

    async def _tell_agents(self, outgoing: Outgoing, reason: str) -> None:
        channel = outgoing.channel.value
        event = DeskEvent(
            kind="delivery_failed",
            customer_key=f"{channel}:{outgoing.user_id}",
            conversation_id=outgoing.conversation_id,
            text=f"this reply did not reach the customer on {channel} ({reason[:200]}): "
            f"{outgoing.reply.text[:300]}",
        )
        for desk in self.desks:
            try:
                await desk.notify(event)
            except Exception as exc:
                # The failure is recorded and logged either way; a desk that is down too
                # must not stop the others from hearing of it.
                log.error("outbound: could not tell a desk", extra={"error": repr(exc)})

    def sweepers(self, *, interval_seconds: float = 1.0) -> list[OutboundSweeper]:
        """One retry sweeper per channel, so a slow platform holds up only its own."""
        return [
            OutboundSweeper(
                self.retries,
                channel,
                self.attempt,
                self.undeliverable,
                interval_seconds=interval_seconds,
                clock=self.clock,
            )
            for channel in self.channels
        ]

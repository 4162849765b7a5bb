"""Routes each outgoing message to the sender of its channel and each desk event to the
desks, and decides what a failed send means: parked for a retry while its platform is
unavailable (`bot.outbound`), or recorded as never deliverable when it was refused for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot import metrics
from bot.conversation import DeskEvent
from bot.errors import PermanentFailure, PlatformUnavailable
from bot.model import Outgoing, ReplyKind
from bot.outbound import (
    Clock,
    OutboundRetries,
    OutboundSweeper,
    ParkedSend,
    channel_lane,
    desk_lane,
    notice,
    replies,
)
from bot.ports import Desk, Sender
from bot.send_guard import clear_to_send

log = logging.getLogger("tsunagu.delivery")

_FAILED_KEPT = 10_000

# Queues Redis commands in a pipeline it is given.
Writes = Callable[[Any], object]


def desk_name(desk: Desk) -> str:
    """A desk's name (its lane of parked notices): its `name`, else its class's."""
    return str(getattr(desk, "name", type(desk).__name__))


class Delivery:
    """The senders of every configured channel and the agents' desks, with their parked
    retries."""

    def __init__(
        self,
        retries: OutboundRetries,
        senders: list[Sender] | None = None,
        *,
        clock: Clock = time.time,
    ):
        self.retries = retries
        self.clock = clock
        self._senders: dict[str, Sender] = {}
        # Where agents work. The runtime shares the dispatcher's list of desks here.
        self.desks: list[Desk] = []
        for sender in senders or []:
            self.register(sender)

    def register(self, sender: Sender) -> None:
        """Add (or replace) the sender of one channel."""
        self._senders[channel_lane(sender.channel)] = sender

    @property
    def lanes(self) -> list[str]:
        """Every lane parked sends may wait in: one per channel, one per desk."""
        return [*self._senders, *(desk_lane(desk_name(desk)) for desk in self.desks)]

    async def send(self, batch: list[Outgoing], *, writes: Writes | None = None) -> None:
        """Deliver one event's replies on their channel, or park them for a retry.

        Returns once they are delivered, parked or recorded as undeliverable: a platform
        outage never fails the event. Raises only `StorageUnavailable` (and bugs).

        `writes` queues the event's own bookkeeping in a Redis pipeline (not a transaction):
        it goes out before the replies, in the round trip that looks for earlier sends
        waiting, rather than in round trips of its own.
        """
        if batch:
            await self._send_or_park(replies(batch), writes)
        elif writes is not None:
            async with self.retries.redis.pipeline(transaction=False) as pipe:
                writes(pipe)
                await pipe.execute()

    async def notify(self, event: DeskEvent, desks: list[Desk]) -> None:
        """Tell each desk, or park the event for a desk whose platform is unavailable."""
        for desk in desks:
            await self._send_or_park(notice(desk_name(desk), event))

    async def attempt(self, send: ParkedSend) -> None:
        """Try a send once; raises the `bot.errors` platform failures. From an inbox
        worker's handler, only once its lease on the event's shard is sure (`clear_to_send`:
        cancelled there if the shard was lost)."""
        await clear_to_send()
        if send.desk_event is not None:
            desk = next((d for d in self.desks if desk_lane(desk_name(d)) == send.lane), None)
            if desk is None:
                # The desk was switched off since: nobody is left to tell.
                log.warning("outbound: no desk for a parked notice", extra={"lane": send.lane})
                return
            await desk.notify(send.desk_event)
            return
        sender = self._senders.get(send.lane)
        if sender is None:
            raise PermanentFailure(send.batch[0].channel, "the channel is not configured")
        await sender.send(send.batch)

    async def _send_or_park(self, send: ParkedSend, writes: Writes | None = None) -> None:
        if writes is None:
            waiting = await self.retries.waiting(send.customer_key, send.lane)
        else:
            async with self.retries.redis.pipeline(transaction=False) as pipe:
                writes(pipe)
                self.retries.waiting_in(pipe, send.customer_key, send.lane)
                *_, parked = await pipe.execute()
            waiting = bool(parked)
        if waiting:
            # Earlier sends to this customer wait for their platform: never overtake them.
            if await self._park(send):
                log.info(
                    "outbound: queued behind earlier sends",
                    extra={"lane": send.lane, "customer": send.customer_key, "send": send.id},
                )
            return
        try:
            await self.attempt(send)
        except PlatformUnavailable as exc:
            if await self._park(send, exc):
                metrics.OUTBOUND_PARKED.labels(send.lane).inc()
                log.warning(
                    "outbound: platform unavailable, parked for a retry",
                    extra={
                        "lane": send.lane,
                        "customer": send.customer_key,
                        "send": send.id,
                        "error": exc.reason,
                    },
                )
        except PermanentFailure as exc:
            await self.undeliverable(send, exc.reason, gave_up=False)

    async def _park(self, send: ParkedSend, error: PlatformUnavailable | None = None) -> bool:
        # A parked send goes out later, from a sweeper that has no lease to check: it is
        # parked only while it could be sent now.
        await clear_to_send()
        return await self.retries.park(send, self.clock(), error)

    async def undeliverable(self, send: ParkedSend, reason: str, *, gave_up: bool) -> None:
        """A send that will never go out (refused for good, or `gave_up` retrying): record
        it, log it, and tell the agents of a reply of theirs that did not reach the
        customer."""
        metrics.OUTBOUND_FAILED.labels(send.lane, "gave_up" if gave_up else "refused").inc()
        log.error(
            "outbound: not delivered",
            extra={
                "lane": send.lane,
                "customer": send.customer_key,
                "send": send.id,
                "reason": reason[:300],
            },
        )
        what = (
            ",".join(o.message_id for o in send.batch)
            if send.desk_event is None
            else f"desk event {send.desk_event.kind}"
        )
        await self.retries.redis.xadd(
            self.retries.keys.outbound_failed(),
            {
                "lane": send.lane,
                "customer": send.customer_key,
                "what": what,
                "reason": reason[:300],
                "time": f"{self.clock():.3f}",
            },
            maxlen=_FAILED_KEPT,
        )
        for outgoing in send.batch:
            if outgoing.reply.kind is ReplyKind.AGENT:
                await self._tell_agents(outgoing, reason)

    async def _tell_agents(self, outgoing: Outgoing, reason: str) -> None:
        channel = outgoing.channel
        event = DeskEvent(
            kind="delivery_failed",
            customer_key=f"{channel}:{outgoing.user_id}",
            conversation_id=outgoing.conversation_id,
            text=f"this reply did not reach the customer on {channel} ({reason[:200]}): "
            f"{outgoing.reply.text[:300]}",
        )
        await self.notify(event, self.desks)

    def sweepers(self, *, interval_seconds: float = 1.0) -> list[OutboundSweeper]:
        """One retry sweeper per lane, so a slow platform holds up only its own."""
        return [
            OutboundSweeper(
                self.retries,
                lane,
                self.attempt,
                self.undeliverable,
                interval_seconds=interval_seconds,
                clock=self.clock,
            )
            for lane in self.lanes
        ]

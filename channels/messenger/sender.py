"""Delivers replies on Messenger or Instagram through the Send API, in order, once.

- The messaging window decides how each reply goes (`channels.messenger.window`): as a
  `RESPONSE` within 24 hours of the customer's last message, an agent's reply tagged
  `HUMAN_AGENT` within 7 days, else not at all. The bot's own messages outside the
  24 hours are left out (logged); when nothing in a batch may go, it fails as a
  `PermanentFailure` saying why, which the delivery records and, for an agent's reply,
  tells the agents.
- Each Send API call's message gets a Redis marker, taken before the call and dropped if
  it fails, so a batch sent again (a parked retry, a replayed event) skips what went out.
  The Send API has no idempotency key: a crash in the instant between Meta accepting a
  message and this process hearing so leaves the marker, and the message is not repeated.
- Failures are raised as `bot.errors` types (`channels.messenger.failures` judges them).
"""

from __future__ import annotations

import logging

import httpx
from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter, TsunaguError
from bot.model import ChannelName, Outgoing, ReplyKind
from channels.messenger.client import GraphError, SendApi
from channels.messenger.failures import Failure, Verdict, judge, network_failure
from channels.messenger.keys import MetaKeys
from channels.messenger.render import render
from channels.messenger.surface import Surface
from channels.messenger.window import Closed, LastMessages, send_as

log = logging.getLogger("tsunagu.messenger")

MARKER_SECONDS = 7 * 24 * 3600


class MetaSender:
    """The `bot.ports.Sender` of the Messenger or the Instagram channel."""

    def __init__(
        self,
        surface: Surface,
        api: SendApi,
        redis: Redis,
        keys: MetaKeys,
        last_messages: LastMessages,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.channel: ChannelName = surface.name
        self.surface = surface
        self.api = api
        self.redis = redis
        self.keys = keys
        self.last_messages = last_messages
        self.clock = clock

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver one event's replies (in order) to one customer, or raise why not:
        `PlatformUnavailable` / `RetryAfter` (try later), `PermanentFailure` (never)."""
        if not batch:
            return
        user_id = batch[0].user_id
        last = await self.last_messages.last(user_id)
        now = self.clock.now()
        closed: list[Closed] = []
        for outgoing in batch:
            how = send_as(last, now, from_agent=outgoing.reply.kind is ReplyKind.AGENT)
            if isinstance(how, Closed):
                closed.append(how)
                log.info(
                    "%s: not sent, outside the messaging window",
                    self.surface.name,
                    extra={"message": outgoing.message_id, "reason": how.reason},
                )
                continue
            for n, message in enumerate(render(outgoing.reply, self.surface)):
                marker = self.keys.sent(user_id, f"{outgoing.message_id}.{n}")
                if not await self.redis.set(marker, "1", nx=True, ex=MARKER_SECONDS):
                    continue  # sent before
                try:
                    await self.api.send(user_id, message, how)
                except BaseException as exc:
                    await self.redis.delete(marker)  # not sent: a retry sends it
                    typed = self._typed(exc) if isinstance(exc, Exception) else None
                    if typed is None:
                        raise
                    raise typed from exc
        if closed and len(closed) == len(batch):
            raise PermanentFailure(self.channel, closed[-1].reason)

    def _typed(self, exc: Exception) -> TsunaguError | None:
        """The `bot.errors` type of a failed call (None: a bug, raised as it is)."""
        failure: Failure
        if isinstance(exc, GraphError):
            failure = judge(exc)
        elif isinstance(exc, httpx.TransportError | TimeoutError | OSError):
            failure = network_failure(exc)
        else:
            return None
        if failure.verdict is Verdict.SLOW_DOWN and failure.retry_after is not None:
            return RetryAfter(self.channel, failure.retry_after, failure.reason)
        if failure.verdict is Verdict.NEVER:
            log.error(
                "%s: message refused for good", self.surface.name, extra={"reason": failure.reason}
            )
            return PermanentFailure(self.channel, failure.reason)
        return PlatformUnavailable(self.channel, failure.reason)

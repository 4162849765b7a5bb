"""Delivers replies on LINE: by reply token while it is fresh, else by push, exactly once.

- Every API call's messages get a Redis marker once delivered, so a batch re-sent after a
  crash skips what already went out.
- A reply token is taken with SET NX before use, for one API call: a token works once, and
  any other call goes by push. A replay of that very call (a crash came between the reply
  and its marker) uses the token again: LINE refusing it as used means it went out.
- A reply that got no answer (timed out, connection lost, a 5xx) may have gone out: it is
  never followed by a push. The send fails as `PlatformUnavailable`, and its retry uses the token
  again, which settles it as a replay's does.
- A push carries `X-Line-Retry-Key`, derived from the messages' ids, so LINE itself drops a
  push we repeat after a timeout (it answers 409).
- Each call is made once; its failure is raised as a `bot.errors` type: 429 as `RetryAfter`
  (LINE's `Retry-After`), 5xx and network errors as `PlatformUnavailable` (the delivery
  parks the messages and retries them later, `bot.outbound`), a refused access token or a
  4xx that can never succeed as `PermanentFailure`. A user who blocked the account is
  logged once and their conversation closed through `on_unreachable`.
- A batch with no reply token of its own (an agent's reply or close, a timer) uses the
  customer's latest one while it is fresh and nobody used it: an agent answering within
  the token's life, or closing it (the survey), costs no push. Which one (or none) is
  chosen once per call: a replay uses that token again, never the customer's newer one.
- Every call is counted by kind (reply or push) and reason (`channels.line.cost`); once the
  month's pushes reach `LINE_PUSH_BUDGET`, an optional push is skipped (counted, logged),
  never an agent's words.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from linebot.v3.messaging import ApiException, TextMessage
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.clock import SYSTEM_CLOCK, Clock
from bot.errors import PermanentFailure, PlatformUnavailable, RetryAfter
from bot.model import Outgoing
from bot.storage import write_replicated
from channels.line.client import LineApi
from channels.line.cost import SendCounter, SendKind, is_optional, reason_of
from channels.line.keys import LineKeys
from channels.line.render import calls, render
from channels.line.settings import NAME, LineSettings

log = logging.getLogger("tsunagu.line")

RETRY_KEY_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-5b7e-9c3a-2e4f6a8b0c1d")
MARKER_SECONDS = 7 * 24 * 3600
TOKEN_MARKER_SECONDS = 24 * 3600
Unreachable = Callable[[str, str, str], Awaitable[None]]
# What LINE not answering looks like from the client (refused, reset, timed out).
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class LineSender:
    """The `bot.ports.Sender` of the LINE channel."""

    channel = NAME

    def __init__(
        self,
        api: LineApi,
        redis: Redis,
        keys: LineKeys,
        settings: LineSettings,
        on_unreachable: Unreachable | None = None,
        clock: Clock = SYSTEM_CLOCK,
        counter: SendCounter | None = None,
    ):
        self.api = api
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.on_unreachable = on_unreachable
        self.clock = clock  # a reply token's age is measured against LINE's event time
        self.counter = counter or SendCounter(redis, keys, budget=None, clock=clock)

    async def send(self, batch: list[Outgoing]) -> None:
        """Deliver one event's replies (in order) to one customer, or raise why not:
        `PlatformUnavailable` / `RetryAfter` (try later), `PermanentFailure` (never)."""
        if not batch:
            return
        first = batch[0]
        user_id, meta = first.user_id, first.meta
        planned = [
            (
                _call_id([mid for mid, _, _ in call]),
                [message for _, message, _ in call],
                _distinct([o for _, _, o in call]),
            )
            for call in calls(_messages(batch))
        ]
        to = meta.get("to") or user_id
        token, token_meta = meta.get("reply_token"), meta
        borrows = token is None and to == user_id
        # One round trip: is the customer reachable, which calls went out before, and (for
        # a batch without a token of its own) the customer's latest reply token, or (with
        # one) the token taken for the first call, the only one that may use it.
        token_key = self.keys.reply_token(token) if token is not None and planned else None
        first_id = planned[0][0] if planned else ""

        def queue(pipe: Pipeline) -> None:
            pipe.exists(self.keys.unreachable(user_id))
            for call_id, _, _ in planned:
                pipe.exists(self.keys.sent(user_id, call_id))
            if borrows:
                pipe.hgetall(self.keys.latest_reply_token(user_id))
            if token_key is not None:
                self._queue_take(pipe, token_key, first_id)

        if token_key is not None:
            # Replicated before the reply, as `_take_token` says why.
            unreachable, *sent_before = await write_replicated(self.redis, token_key, queue)
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                queue(pipe)
                unreachable, *sent_before = await pipe.execute()
        latest = sent_before.pop() if borrows else {}
        taken_first = _taken(sent_before.pop(), first_id) if token_key is not None else None
        if unreachable:
            log.info("line: customer unreachable, nothing sent", extra={"user": user_id})
            raise PermanentFailure(NAME, "the customer cannot be reached (blocked us)")
        first_call = True
        for (call_id, group, outgoing), sent in zip(planned, sent_before, strict=True):
            marker = self.keys.sent(user_id, call_id)
            if sent:
                first_call = False
                continue
            replied = False
            if first_call and borrows:
                token, token_meta = await self._borrowed_token(latest, call_id)
            if first_call and token is not None:
                # One call per token, whatever happens: only the first call may use it.
                if borrows:
                    taken = await self._take_token(token, call_id)
                else:
                    taken = taken_first  # taken above (this is the first call)
                if taken is not None and self._fresh(token_meta):
                    replied = await self._reply(token, group, retrying=not taken)
            first_call = False
            reason = reason_of(outgoing)
            counted: SendKind | None = None
            if replied:
                counted = "reply"
            elif is_optional(outgoing) and await self.counter.budget_reached():
                log.warning(
                    "line: push budget reached, optional push not sent",
                    extra={"user": user_id, "reason": reason},
                )
                counted = "skipped"
            elif await self._push(to, user_id, group, call_id):
                counted = "push"
            # The count and the sent marker in one round trip.
            async with self.redis.pipeline(transaction=False) as pipe:
                if counted is not None:
                    self.counter.count_in(pipe, counted, reason)
                pipe.set(marker, "1", ex=MARKER_SECONDS)
                await pipe.execute()

    async def _borrowed_token(
        self, latest_token: dict[str, str], call_id: str
    ) -> tuple[str | None, dict[str, str]]:
        """The reply token a call with none of its own uses (None: push), and its time.

        The customer's latest token (`latest_token`, as read with the call's markers) when
        the call is first made; the same one on a replay, whatever the customer wrote since:
        a newer token would say again by reply what went out by the first (or by a push),
        and a push would repeat its reply.
        """
        token, at = str(latest_token.get("token") or ""), str(latest_token.get("at") or "0")
        latest = f"{token} {at}" if token else ""
        key = self.keys.borrowed_token(call_id)
        # Replicated before use, as the token itself is taken (`_take_token`). NX with GET:
        # set it, or read what the first attempt chose, in one command.
        [chosen_before] = await write_replicated(
            self.redis,
            key,
            lambda pipe: pipe.set(key, latest, nx=True, get=True, ex=TOKEN_MARKER_SECONDS),
        )
        chosen = latest if chosen_before is None else str(chosen_before)
        if not chosen:
            return None, {}
        token, _, at = chosen.partition(" ")
        return token, {"reply_token_at": at}

    async def _take_token(self, token: str, call_id: str) -> bool | None:
        """True: the token is ours, for this call. False: this same call took it before
        (a replay after a crash; did that reply go out?). None: not ours to use."""
        key = self.keys.reply_token(token)
        # Replicated before the reply: were a failover to forget that the token was taken,
        # a replay would take it afresh, be refused by LINE and push the messages again.
        [taken_by] = await write_replicated(
            self.redis, key, lambda pipe: self._queue_take(pipe, key, call_id)
        )
        return _taken(taken_by, call_id)

    @staticmethod
    def _queue_take(pipe: Pipeline, key: str, call_id: str) -> None:
        """Take a reply token for one call, or read which call took it, in one command
        (`_taken` reads the answer)."""
        pipe.set(key, call_id, nx=True, get=True, ex=TOKEN_MARKER_SECONDS)

    def _fresh(self, meta: dict[str, str]) -> bool:
        try:
            issued = float(meta.get("reply_token_at", "0"))
        except ValueError:
            return False
        return self.clock.now() - issued < self.settings.reply_token_ttl_seconds

    async def _reply(self, token: str, messages: list[TextMessage], *, retrying: bool) -> bool:
        """True if the reply went out; False means: push instead. Raises
        `PlatformUnavailable` when LINE did not answer: the reply may have gone out, so a
        push now could say it twice; the retry uses the token again instead.

        `retrying`: an earlier attempt took this token for these very messages and then
        crashed or got no answer, so it is unknown whether LINE got them. Using the token
        again settles it: accepted, they went out now; refused as an invalid token while it
        is still fresh, the earlier attempt used it, so they went out then (a push would say
        them twice).
        """
        try:
            await self.api.reply(token, messages)
            return True
        except ApiException as exc:
            if retrying and exc.status == 400 and "invalid reply token" in _body(exc).lower():
                log.info("line: reply token used by an earlier attempt: already delivered")
                return True
            if (exc.status or 0) >= 500:
                # LINE's own failure may come after it took the reply: as unanswered.
                log.warning("line: reply failed on LINE's side, to be retried")
                raise PlatformUnavailable(NAME, f"reply: HTTP {exc.status}") from exc
            log.info(
                "line: reply token refused, pushing instead",
                extra={"status": exc.status, "body": _body(exc)},
            )
        except _NETWORK_ERRORS as exc:
            # LINE may have taken the reply and its answer been lost: only the token,
            # used again, can tell (a push would repeat a reply that went out).
            log.warning("line: reply unanswered, to be retried", extra={"error": repr(exc)})
            raise PlatformUnavailable(NAME, f"reply unanswered: {exc!r}") from exc
        return False

    async def _push(self, to: str, user_id: str, messages: list[TextMessage], call_id: str) -> bool:
        """Push once (True: sent now; False: LINE had it already), or raise the failure as
        a `bot.errors` type.

        The retry key is derived from the call's message ids, so a push repeated later
        (after a timeout whose request LINE did get) is dropped by LINE with a 409.
        """
        retry_key = str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{to}:{call_id}"))
        try:
            await self.api.push(to, messages, retry_key)
            return True
        except ApiException as exc:
            status = exc.status or 0
            if status == 409:
                return False  # LINE accepted this retry key before: already delivered
            if status == 429:
                seconds = _retry_after(exc)
                if seconds is not None:
                    raise RetryAfter(NAME, seconds, "HTTP 429") from exc
                raise PlatformUnavailable(NAME, "HTTP 429") from exc
            if status >= 500:
                raise PlatformUnavailable(NAME, f"HTTP {status}") from exc
            if status == 401:
                log.error("line: access token refused (check LINE_CHANNEL_ACCESS_TOKEN)")
                raise PermanentFailure(NAME, "access token refused") from exc
            reason = f"{status}: {_body(exc)}"
            await self._give_up(to, user_id, call_id, reason)
            raise PermanentFailure(NAME, reason) from exc
        except _NETWORK_ERRORS as exc:
            raise PlatformUnavailable(NAME, repr(exc)) from exc

    async def _give_up(self, to: str, user_id: str, call_id: str, reason: str) -> None:
        log.error(
            "line: message can never be delivered; closing the conversation",
            extra={"to": to, "reason": reason},
        )
        if to == user_id and self.on_unreachable is not None:
            await self.on_unreachable(user_id, call_id, reason)


def _taken(taken_by: str | None, call_id: str) -> bool | None:
    """What taking a reply token answered (the call that held it before, if any), as
    `LineSender._take_token` returns it."""
    if taken_by is None:
        return True
    return False if taken_by == call_id else None


def call_ids(batch: list[Outgoing]) -> list[str]:
    """The ids of the API calls that sending `batch` makes, in order (the same on a replay)."""
    return [_call_id([mid for mid, _, _ in call]) for call in calls(_messages(batch))]


def _messages(batch: list[Outgoing]) -> list[tuple[str, TextMessage, Outgoing]]:
    return [
        (f"{outgoing.message_id}.{n}", message, outgoing)
        for outgoing in batch
        for n, message in enumerate(render(outgoing.reply))
    ]


def _distinct(outgoing: list[Outgoing]) -> list[Outgoing]:
    """The replies a call's messages come from, each once, in order."""
    seen: dict[str, Outgoing] = {}
    for item in outgoing:
        seen.setdefault(item.message_id, item)
    return list(seen.values())


def _call_id(message_ids: list[str]) -> str:
    return hashlib.sha256("|".join(message_ids).encode()).hexdigest()[:32]


def _body(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    return str(body or exc.reason or "")[:300]


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None

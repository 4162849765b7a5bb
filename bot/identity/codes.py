"""One-time link codes: six digits an identity asks for and another identity types.

A code names the identity that asked for it and is valid for `LINK_CODE_TTL_SECONDS`
(by the runtime's clock). It is used up by the first redeeming attempt that names it.
An identity may ask for `MAX_CODES_PER_WINDOW` codes per window, and one that types
`MAX_WRONG_TRIES` wrong codes in a window is locked out of linking until the window ends:
with a million codes and a handful of guesses per window, guessing is hopeless.
Six digits sent alone (no 「連携」 before them) are a code only when a live one has them
(`is_live_for`): an order number is no wrong try, and such look-ups are capped too.
A web identity costs one request, so wrong tries and bare look-ups are also counted per
client address (`MAX_WRONG_TRIES_PER_ADDRESS`, `MAX_BARE_PROBES_PER_ADDRESS`): starting
new conversations does not buy new guesses.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import WatchError

from bot.clock import SYSTEM_CLOCK, Clock
from bot.storage import Keys

CODE_DIGITS = 6
LINK_CODE_TTL_SECONDS = 600
MAX_CODES_PER_WINDOW = 5
MAX_WRONG_TRIES = 5
# Generous for people sharing an address (an office, a carrier's NAT) mistyping now and
# then; an address past it is locked out of linking for the rest of the window.
MAX_WRONG_TRIES_PER_ADDRESS = 20
# Six digits sent alone link only when they are a live code; a miss is no wrong try (an
# order number is not a guess) but counts here, and past this many in a window bare digits
# are not looked up at all, so they cannot be used to guess codes for free.
MAX_BARE_PROBES = 20
# Order numbers from everyone behind one address (an office, a carrier's NAT).
MAX_BARE_PROBES_PER_ADDRESS = 100
WINDOW_SECONDS = 600
# Redis forgets a code or a counter this long after its window (garbage collection only:
# validity is decided by the clock, so tests can move time).
_SLACK_SECONDS = 3600


class LinkCodeError(Exception):
    """A code could not be issued or redeemed; `reason` says why, for the customer."""

    reason = "invalid"


class TooManyCodes(LinkCodeError):
    """The identity asked for too many codes in this window."""

    reason = "too_many_codes"


class WrongCode(LinkCodeError):
    """No valid code has these digits (never issued, expired or used)."""

    reason = "wrong_code"


class LockedOut(LinkCodeError):
    """The identity typed too many wrong codes; linking is refused until the window ends."""

    reason = "locked"


class OwnCode(LinkCodeError):
    """The identity typed the code it asked for itself."""

    reason = "own_code"


@dataclass(frozen=True)
class IssuedCode:
    """A code handed to an identity, and when it stops working."""

    code: str
    expires_at: float


def looks_like_code(text: str) -> bool:
    """Whether `text` is a link code's shape: exactly six ASCII digits."""
    return len(text) == CODE_DIGITS and text.isascii() and text.isdigit()


class LinkCodes:
    """Issues and redeems link codes in Redis."""

    def __init__(self, redis: Redis, keys: Keys, *, clock: Clock = SYSTEM_CLOCK):
        self._redis = redis
        self._keys = keys
        self._clock = clock

    async def issue(self, customer_key: str) -> IssuedCode:
        """A fresh code for `customer_key`; raises `TooManyCodes` over the window's limit."""
        now = self._clock.now()
        if await self._count(self._keys.link_codes_issued(customer_key), now) > (
            MAX_CODES_PER_WINDOW
        ):
            raise TooManyCodes()
        expires_at = now + LINK_CODE_TTL_SECONDS
        doc = json.dumps({"issuer": customer_key, "expires_at": expires_at})
        while True:
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            # NX: two live codes never share digits (a taken one is simply drawn again).
            if await self._redis.set(
                self._keys.link_code(code), doc, nx=True, ex=LINK_CODE_TTL_SECONDS + _SLACK_SECONDS
            ):
                return IssuedCode(code=code, expires_at=expires_at)

    async def is_live_for(
        self, code: str, customer_key: str, *, address: str | None = None
    ) -> bool:
        """Whether `code` is a live code another identity asked for, without using it up.

        For six digits sent alone: False means they are not a code (read them as any
        text); a miss is counted against `MAX_BARE_PROBES`, and against
        `MAX_BARE_PROBES_PER_ADDRESS` for the client `address` when one is given, never as
        a wrong try.
        """
        if not looks_like_code(code):
            return False
        now = self._clock.now()
        counters = [(self._keys.link_probes(customer_key), MAX_BARE_PROBES)]
        if address is not None:
            counters.append((self._address_key("probes", address), MAX_BARE_PROBES_PER_ADDRESS))
        # Counted before the look-up, as wrong tries are (see `redeem`); a hit takes it back.
        counts = await self._count_each(counters, now)
        if counts is None:
            return False
        raw = await self._redis.get(self._keys.link_code(code))
        found = json.loads(raw) if raw else None
        if (
            found is None
            or float(found["expires_at"]) <= now
            or str(found["issuer"]) == customer_key
        ):
            return False
        for key, _ in counters:
            await self._redis.hincrby(key, "count", -1)
        return True

    async def redeem(self, code: str, customer_key: str, *, address: str | None = None) -> str:
        """Use up `code` for `customer_key`; returns the identity that asked for it.

        Raises `LockedOut` after too many wrong tries from this identity, or from the client
        `address` when one is given; `WrongCode` (counted as a wrong try) when no valid code
        has these digits; `OwnCode` when the identity typed its own.
        """
        now = self._clock.now()
        counters = [(self._keys.link_tries(customer_key), MAX_WRONG_TRIES)]
        if address is not None:
            counters.append((self._address_key("tries", address), MAX_WRONG_TRIES_PER_ADDRESS))
        # Every attempt is counted before its code is looked up, atomically, and a right
        # code takes its count back: attempts sent all at once cannot all pass the check
        # before the first of them is counted.
        counts = await self._count_each(counters, now)
        if counts is None:
            raise LockedOut()
        raw = (
            await self._redis.getdel(self._keys.link_code(code)) if looks_like_code(code) else None
        )
        found = json.loads(raw) if raw else None
        if found is None or float(found["expires_at"]) <= now:
            if any(count >= limit for count, (_, limit) in zip(counts, counters, strict=True)):
                raise LockedOut()
            raise WrongCode()
        issuer = str(found["issuer"])
        for key, _ in counters[1:]:
            await self._redis.hincrby(key, "count", -1)
        if issuer == customer_key:
            await self._redis.hincrby(counters[0][0], "count", -1)
            raise OwnCode()
        await self._redis.delete(counters[0][0])
        return issuer

    def _address_key(self, what: str, address: str) -> str:
        # Beside the identities' own counters: no customer key starts with "address:".
        if what == "probes":
            return self._keys.link_probes(f"address:{address}")
        return self._keys.link_tries(f"address:{address}")

    async def _count_each(self, counters: list[tuple[str, int]], now: float) -> list[int] | None:
        """Count one more in each counter in turn; None at the first past its limit. Those
        after it are left alone: an identity already locked out, retrying, does not use up
        its address's tries."""
        counts = []
        for key, limit in counters:
            count = await self._count(key, now)
            if count > limit:
                return None
            counts.append(count)
        return counts

    async def _current(self, key: str, now: float) -> int:
        """The count in `key` if its window is still open, else 0."""
        count, since = await self._redis.hmget(key, ["count", "since"])
        if count is None or since is None or now - float(since) >= WINDOW_SECONDS:
            return 0
        return int(count)

    async def _count(self, key: str, now: float) -> int:
        """Count one more in `key`'s window (a new window if the last one ended), atomically:
        concurrent counts each see their own number."""
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    count, since = await pipe.hmget(key, ["count", "since"])
                    pipe.multi()
                    if count is None or since is None or now - float(since) >= WINDOW_SECONDS:
                        pipe.delete(key)
                        pipe.hset(key, "since", now)
                    pipe.hincrby(key, "count", 1)
                    pipe.expire(key, WINDOW_SECONDS + _SLACK_SECONDS)
                    results = await pipe.execute()
                    return int(results[-2])
                except WatchError:
                    continue  # another count came in between: read it again

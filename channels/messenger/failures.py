"""What a failed Send API call means for the message: try again, later, or never.

From Meta's error codes (Messenger Platform "Common Error Codes", Graph API errors):
- no answer, HTTP 5xx, codes 1 and 2 (unknown / temporary) and 1200 (temporary send
  failure): Meta is failing for now;
- HTTP 429 and the rate-limit codes 4, 17, 32, 613 and 80006: slow down (after the
  `Retry-After` Meta names, if any);
- everything else is a refusal repeating cannot change: a refused access token (190), a
  customer who is not available (551), outside the messaging window (10 / 2018278), an
  invalid message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from channels.messenger.client import GraphError

TEMPORARY_CODES = {1, 2, 1200}
RATE_LIMIT_CODES = {4, 17, 32, 613, 80006}
TOKEN_CODES = {190}
UNAVAILABLE_CODE = 551
OUTSIDE_WINDOW = (10, 2018278)


class Verdict(Enum):
    """What to do with a message whose send failed."""

    RETRY = "retry"  # the platform is failing: try again with backoff
    SLOW_DOWN = "slow_down"  # rate limited: try again, not before `retry_after`
    NEVER = "never"  # refused for good


@dataclass(frozen=True)
class Failure:
    """A failed send, judged."""

    verdict: Verdict
    reason: str
    retry_after: float | None = None


def judge(error: GraphError) -> Failure:
    """What a Graph API refusal means for the message."""
    code, subcode = error.code, error.subcode
    if error.status == 429 or code in RATE_LIMIT_CODES:
        return Failure(Verdict.SLOW_DOWN, f"rate limited ({error})", error.retry_after)
    if error.status >= 500 or code in TEMPORARY_CODES:
        return Failure(Verdict.RETRY, str(error))
    if error.status == 401 or code in TOKEN_CODES:
        return Failure(Verdict.NEVER, f"access token refused ({error.message[:200]})")
    if code == UNAVAILABLE_CODE:
        return Failure(Verdict.NEVER, "the customer is not available (blocked the account?)")
    if (code, subcode) == OUTSIDE_WINDOW:
        return Failure(Verdict.NEVER, "outside the messaging window (Meta refused it)")
    return Failure(Verdict.NEVER, str(error)[:300])


def network_failure(error: Exception) -> Failure:
    """Meta did not answer (refused, reset, timed out): try again."""
    return Failure(Verdict.RETRY, f"no answer from the Send API: {error!r}"[:300])

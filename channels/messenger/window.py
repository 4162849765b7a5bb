"""Meta's messaging window: when, and how, a customer may still be written to.

Within 24 hours of the customer's last message anything may be sent (`RESPONSE`). After
that, only a person's reply, tagged `HUMAN_AGENT`, until 7 days after that message. After
7 days nothing may be sent until the customer writes again. The customer's last message
time is kept in Redis; the decision is a pure function of it and the runtime's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from channels.messenger.keys import MetaKeys

HOUR = 3600.0
RESPONSE_WINDOW_SECONDS = 24 * HOUR
HUMAN_AGENT_WINDOW_SECONDS = 7 * 24 * HOUR
# Kept a day longer than it can matter, then forgotten.
LAST_MESSAGE_TTL_SECONDS = int(HUMAN_AGENT_WINDOW_SECONDS + 24 * HOUR)


@dataclass(frozen=True)
class SendAs:
    """How a message goes out: its `messaging_type`, and its `tag` when it has one."""

    messaging_type: str
    tag: str | None = None


@dataclass(frozen=True)
class Closed:
    """The window is closed to this message: why, in words for the agent."""

    reason: str


RESPONSE = SendAs("RESPONSE")
HUMAN_AGENT = SendAs("MESSAGE_TAG", "HUMAN_AGENT")


def send_as(last_message_at: float | None, now: float, *, from_agent: bool) -> SendAs | Closed:
    """How a message may go to a customer who last wrote at `last_message_at`, or why not.

    `from_agent`: the words of a person (an agent's reply), which the `HUMAN_AGENT` tag
    carries for 7 days; the bot's own messages have 24 hours.
    """
    if last_message_at is None:
        return Closed("the customer has not written in the last 7 days")
    age = max(0.0, now - last_message_at)
    if age < RESPONSE_WINDOW_SECONDS:
        return RESPONSE
    if not from_agent:
        return Closed(
            "more than 24 hours since the customer's last message: only an agent's reply "
            "may still be sent"
        )
    if age < HUMAN_AGENT_WINDOW_SECONDS:
        return HUMAN_AGENT
    return Closed(
        f"the customer last wrote {age / (24 * HOUR):.0f} days ago: Meta allows no message "
        "more than 7 days after it, until they write again"
    )


# Keep the later of the stored time and the new one (events may arrive out of order).
_RECORD = """
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > stored then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


class LastMessages:
    """When each customer last wrote, as Meta counts the window from."""

    def __init__(self, redis: Redis, keys: MetaKeys):
        self.redis = redis
        self.keys = keys
        self._record = redis.register_script(_RECORD)

    async def record(self, user_id: str, at: float) -> None:
        """The customer wrote at `at` (epoch seconds); an older time changes nothing."""
        await self._record(
            keys=[self.keys.last_message(user_id)], args=[f"{at:.3f}", LAST_MESSAGE_TTL_SECONDS]
        )

    def queue_record(self, pipe: Pipeline, user_id: str, at: float) -> None:
        """`record` queued on a pipeline (the inbox write's, so the webhook makes one round
        trip): one command in the customer's own slot."""
        # The raw EVAL, not the registered script: a pipeline holding a registered script
        # asks the server whether it knows it first (one more round trip), and a cluster
        # pipeline refuses the `eval` and `evalsha` methods, not the command.
        pipe.execute_command(
            "EVAL",
            _RECORD,
            1,
            self.keys.last_message(user_id),
            f"{at:.3f}",
            LAST_MESSAGE_TTL_SECONDS,
        )

    async def last(self, user_id: str) -> float | None:
        """When the customer last wrote, or None if not in the last 8 days."""
        raw = await self.redis.get(self.keys.last_message(user_id))
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None

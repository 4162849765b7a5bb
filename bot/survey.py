"""Survey answers kept in Redis for the reports."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from bot.conversation import SurveyAnswer
from bot.storage import Keys

_RETENTION = 100_000  # answers kept, newest first out of the stream's tail


class RedisSurveyRecorder:
    """`bot.ports.SurveyRecorder` on a Redis stream, one entry per conversation."""

    def __init__(self, redis: Redis, keys: Keys, *, dedupe_ttl_seconds: int):
        self._redis = redis
        self._stream = f"{keys.prefix}:surveys"
        self._prefix = keys.prefix
        self._dedupe_ttl = dedupe_ttl_seconds

    async def record(self, answer: SurveyAnswer) -> None:
        """Store an answer; a second answer for the same conversation is ignored."""
        marker = f"{self._prefix}:survey_done:{answer.conversation_id}"
        if await self._redis.set(marker, "1", nx=True, ex=self._dedupe_ttl):
            await self._redis.xadd(
                self._stream, {"answer": answer.model_dump_json()}, maxlen=_RETENTION
            )

    async def answers(self, count: int = 1000) -> list[SurveyAnswer]:
        """The newest `count` answers, newest first."""
        entries = cast(
            list[tuple[str, dict[str, str]]], await self._redis.xrevrange(self._stream, count=count)
        )
        return [SurveyAnswer.model_validate_json(fields["answer"]) for _, fields in entries]

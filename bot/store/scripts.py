"""The Lua scripts behind every multi-key transition, loaded from `bot/store/lua/`."""

from __future__ import annotations

from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


def load_script(redis: Redis, name: str) -> AsyncScript:
    """Register `bot/store/lua/<name>.lua` with `redis` (sent by SHA, reloaded if flushed)."""
    source = resources.files("bot.store").joinpath("lua", f"{name}.lua").read_text("utf-8")
    return redis.register_script(source)

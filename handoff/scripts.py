"""The Lua scripts behind every multi-key transition, loaded from `handoff/lua/`."""

from __future__ import annotations

from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


def load_script(redis: Redis, name: str) -> AsyncScript:
    """Register `handoff/lua/<name>.lua` with `redis` (sent by SHA, reloaded if flushed)."""
    source = resources.files("handoff").joinpath("lua", f"{name}.lua").read_text("utf-8")
    return redis.register_script(source)

"""What every channel adapter offers the app factory."""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter

from bot.ports import Sender


class ChannelAdapter(Protocol):
    """A channel: its HTTP routes (inbound) and its sender (outbound)."""

    name: str
    router: APIRouter
    sender: Sender

    async def start(self) -> None:
        """Open connections and start background tasks."""
        ...

    async def stop(self) -> None:
        """Close what `start` opened."""
        ...

"""A web customer whose events go straight to the dispatcher (no HTTP, no inbox), for the
tests that drive the conversation flow through a `Runtime` of their own."""

from __future__ import annotations

import uuid

from bot.composition.runtime import Runtime
from bot.conversation import ConversationState
from bot.model import Inbound, InboundKind
from channels.web.outbox import WebMessage


class DirectCustomer:
    """One web customer of `runtime`; what the bot says is read from the web outbox."""

    def __init__(self, runtime: Runtime):
        self.rt = runtime
        self.user_id = f"w_{uuid.uuid4().hex[:12]}"
        self.key = f"web:{self.user_id}"
        self._read: str | None = None

    async def send(
        self, text: str = "", kind: InboundKind = InboundKind.TEXT, payload: str | None = None
    ) -> list[WebMessage]:
        """Hand one event to the dispatcher; returns what the bot said since the last look."""
        inbound = Inbound(
            event_id=uuid.uuid4().hex,
            channel="web",
            user_id=self.user_id,
            kind=kind,
            text=text,
            payload=payload,
        )
        await self.rt.dispatcher.handle(inbound)
        return await self.replies()

    async def tap(self, payload: str) -> list[WebMessage]:
        """Tap the choice whose payload is `payload`."""
        return await self.send(payload, kind=InboundKind.CHOICE, payload=payload)

    async def replies(self) -> list[WebMessage]:
        """What the bot said since the last look (settle the inbox first for timer events)."""
        messages = await self.rt.channel("web").outbox.read(self.key, self._read)
        if messages:
            self._read = messages[-1].cursor
        return messages

    async def state(self) -> ConversationState:
        """The conversation's state now."""
        conversation = await self.rt.store.load(self.key)
        assert conversation is not None
        return conversation.state

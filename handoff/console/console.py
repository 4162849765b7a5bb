"""The agent console as the app factory sees it: a router, start/stop, and a desk."""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter
from redis.asyncio import Redis

from bot.channel_catalog import ChannelCatalog
from bot.conversation import DeskEvent
from bot.identity import Identities
from bot.ports import ReadReceipts
from bot.privacy.audit import AuditLog
from bot.settings import Settings
from bot.storage import Keys
from bot.store.conversations import RedisConversationStore
from handoff.agents import AgentActions
from handoff.console.api import build_router
from handoff.console.auth import ConsoleAuth, log
from handoff.console.privacy import ConsolePrivacy
from handoff.console.views import ConsoleViews
from handoff.queue import RedisHandoffQueue


class ConsoleParts(Protocol):
    """The runtime parts the console uses (`bot.composition.runtime.Runtime` has them all)."""

    settings: Settings
    redis: Redis
    keys: Keys
    store: RedisConversationStore
    queue: RedisHandoffQueue
    agents: AgentActions
    read_receipts: list[ReadReceipts]
    audit: AuditLog
    catalog: ChannelCatalog


def console_url(settings: Settings) -> str:
    """Where the console is served, as an agent on this machine would open it."""
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/agent"


class AgentConsole:
    """The web agent console: `/agent` for people, `/agent/api/*` for the page.

    It is also a desk (`bot.ports.Desk`): told of each escalation, it lists the conversation
    even if an agent elsewhere (Slack) claims it before any console has looked at the queue.
    """

    name = "console"

    def __init__(self, parts: ConsoleParts):
        settings, keys = parts.settings, parts.keys
        self.auth = ConsoleAuth(
            parts.redis,
            keys.console_admin_token(),
            settings.admin_token,
            settings.agent_tokens,
        )
        self.views = ConsoleViews(
            parts.redis,
            keys.console_open(),
            parts.store,
            parts.queue,
            Identities(parts.redis, keys),
        )
        self._settings = settings
        self.privacy = ConsolePrivacy(parts.audit, mask=settings.pii_mask_console)
        self.router: APIRouter = build_router(
            self.auth,
            self.views,
            parts.agents,
            self.privacy,
            parts.catalog.labels,
            read_receipts=parts.read_receipts,
        )

    async def start(self) -> None:
        """Resolve the admin token; a generated one is logged with the URL to open."""
        token = await self.auth.start()
        if self.auth.generated:
            log.warning(
                "ADMIN_TOKEN is not set: agents can open the console at %s#token=%s "
                "(set ADMIN_TOKEN or AGENT_TOKENS to choose the tokens yourself)",
                console_url(self._settings),
                token,
            )

    async def stop(self) -> None:
        """Nothing runs in the background; here for symmetry with the channel adapters."""

    async def notify(self, event: DeskEvent) -> None:
        """Remember an escalated conversation so it stays listed once claimed."""
        if event.kind == "escalated":
            await self.views.track(event.customer_key)

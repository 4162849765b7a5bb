"""The registry's contract: what a channel package exposes, and what it is given.

A channel is a package under `channels/` whose `__init__` exposes `CHANNEL`, an instance of
a `ChannelPlugin` subclass, and has one line in `channels.registry`. Nothing else in the
project names it: the composition root builds it from its settings when it is configured,
mounts its router, registers its sender (and desk), starts and stops it, shows its label,
and asks it what it keeps about a customer when one is forgotten.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

from bot.settings import ChannelSettings, Settings

if TYPE_CHECKING:
    # Types only: importing the registry (and so this) must stay cheap for the command line.
    import click
    from fastapi import APIRouter
    from redis.asyncio import Redis
    from starlette.routing import Route

    from bot.channel_catalog import ChannelCatalog, Label
    from bot.clock import Clock
    from bot.faq import FaqLibrary
    from bot.identity import Linking
    from bot.inbox import Inbox
    from bot.ports import Attendant, Desk, PanelSource, ReadReceipts, Sender
    from bot.records import RecordStore
    from bot.storage import Keys
    from bot.store.conversations import RedisConversationStore
    from handoff.agents import AgentActions


class ChannelParts(Protocol):
    """The runtime parts a channel is built from (`bot.composition.runtime.Runtime`)."""

    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock
    inbox: Inbox
    store: RedisConversationStore
    agents: AgentActions
    faq: FaqLibrary
    records: RecordStore
    catalog: ChannelCatalog
    linking: Linking


class RunningChannel(Protocol):
    """A configured channel, built for one process."""

    @property
    def name(self) -> str:
        """The channel's name (its plugin's)."""
        ...

    @property
    def router(self) -> APIRouter:
        """Inbound: its webhooks and APIs (mounted by the app factory)."""
        ...

    @property
    def direct_routes(self) -> tuple[Route, ...]:
        """Plain routes of `router` the app serves ahead of its routing (`bot.direct_routes`):
        a webhook that takes every customer message."""
        ...

    @property
    def sender(self) -> Sender:
        """Outbound: renders and sends `Reply`s (registered with the delivery)."""
        ...

    @property
    def agent_desk(self) -> Desk | None:
        """Where agents work on this platform (Slack), or None."""
        ...

    @property
    def customer_desk(self) -> Desk | None:
        """What follows desk events for the customer's sake (LINE's person-mode menu), told
        after every agents' desk; or None."""
        ...

    @property
    def panel(self) -> PanelSource | None:
        """The channel's own figures for /admin and `tsunagu report` (LINE's cost), or None."""
        ...

    @property
    def read_receipts(self) -> ReadReceipts | None:
        """How the customer is shown that an agent read them (LINE's 既読), or None."""
        ...

    @property
    def attendant(self) -> Attendant | None:
        """What the channel does in the worker around each new event of its customers (LINE:
        the profile, the loading animation), so its webhook makes no outbound call; or None."""
        ...

    async def start(self) -> None:
        """Open connections and start background tasks."""
        ...

    async def stop(self) -> None:
        """Close what `start` opened."""
        ...


class FakePlatform(Protocol):
    """A channel's platform played locally over HTTP, for tests and simulators."""

    def channel_settings(self) -> ChannelSettings:
        """The channel's settings pointing at this fake (its API URL, secrets, tokens)."""
        ...

    async def stop(self) -> None:
        """Stop serving."""
        ...


class ChannelDefaults:
    """The optional parts of a `RunningChannel`, absent: inherit it and set what you have."""

    agent_desk: Desk | None = None
    customer_desk: Desk | None = None
    panel: PanelSource | None = None
    read_receipts: ReadReceipts | None = None
    attendant: Attendant | None = None
    direct_routes: tuple[Route, ...] = ()


class ServedRuntime(ChannelParts, Protocol):
    """The runtime of an app served for a channel's command (a simulator)."""

    def channel(self, name: str) -> RunningChannel:
        """The running channel called `name`."""
        ...


class ServedApp(Protocol):
    """The whole app, served on a loopback port."""

    @property
    def runtime(self) -> ServedRuntime:
        """The app's runtime."""
        ...

    @property
    def base_url(self) -> str:
        """Where it is served, e.g. `http://127.0.0.1:8123`."""
        ...


# Serves the whole app with these settings on a port (0: any free one), until the block
# ends. The composition root gives it to a channel's commands, so that a channel never
# imports the composition root.
ServeApp = Callable[[Settings, int], AbstractAsyncContextManager[ServedApp]]

S = TypeVar("S", bound=ChannelSettings)


class ChannelPlugin(ABC, Generic[S]):
    """One channel as the registry knows it, before anything is built.

    Subclasses set `name`, `label` and `settings_type`, and implement `build`; the rest has
    defaults. Importing a plugin must stay cheap: import the platform's SDK inside `build`.
    """

    name: ClassVar[str]  # in customer keys (`name:user`), records, lanes; [a-z][a-z0-9_]*
    label: ClassVar[Label]  # how people see it (reports, the console, the Slack desk)
    settings_type: ClassVar[type[ChannelSettings]]  # its settings, with their env prefix

    def read_settings(self) -> S:
        """The channel's settings from its environment variables (or `.env`)."""
        return self.settings_type()  # type: ignore[return-value]

    def settings_from(self, settings: Settings) -> S:
        """The channel's settings given in `settings.channels`, else read from the
        environment: tests and simulators give them, a deployment sets variables."""
        given = settings.channels.get(self.name)
        if given is None:
            return self.read_settings()
        if not isinstance(given, self.settings_type):
            raise TypeError(
                f"settings.channels[{self.name!r}] is a {type(given).__name__}, "
                f"not the channel's {self.settings_type.__name__}"
            )
        return given  # type: ignore[return-value]

    @abstractmethod
    def build(self, settings: S, parts: ChannelParts) -> RunningChannel:
        """The channel for this process (only called when `settings.enabled`)."""

    async def customer_keys(self, redis: Redis, keys: Keys, customer_key: str) -> list[str]:
        """Keys this channel keeps about `customer_key` outside the customer's own
        (`Keys.customer`) keys, which forget finds by itself: caches, indexes. The customer
        may be of any channel (a desk keeps data about every channel's customers)."""
        return []

    async def erased(self, redis: Redis, keys: Keys, customer_key: str, settings: Settings) -> None:
        """Called once a forgotten customer's keys are gone; nothing to do by default."""

    def report_panel(
        self, settings: S, redis: Redis, keys: Keys
    ) -> AbstractAsyncContextManager[PanelSource | None]:
        """The channel's panel for `tsunagu report`, with no server running: its platform
        client open inside the block. None by default."""
        return contextlib.nullcontext(None)

    async def start_fake_platform(self) -> FakePlatform | None:
        """Start the channel's fake platform (None when it has none in its package)."""
        return None

    def commands(self, serve: ServeApp) -> click.Group | None:
        """The channel's `tsunagu <name> …` commands (a simulator against its fake
        platform, for instance), or None. `serve` runs the whole app for them."""
        return None

"""The channel registry: every channel Tsunagu can run, one line each.

A channel is a package under `channels/` exposing `CHANNEL` (a `channels.base.
ChannelPlugin`). The composition root builds the configured ones from this list; nothing
else names a channel. Packages are imported by name, so a channel's platform SDK is
imported only when that channel is configured (plugins import their SDK in `build`).
"""

from __future__ import annotations

import importlib
import re
from functools import cache

from bot.channel_catalog import ChannelCatalog
from channels.base import ChannelPlugin

# The order is the order of their routes, of the labels in reports and of the demo data.
REGISTERED = (
    "channels.line",
    "channels.web",
    "channels.slack",
    "channels.messenger",
    "channels.messenger.instagram",
)


@cache
def registered_channels() -> tuple[ChannelPlugin, ...]:
    """The plugin of every registered channel, checked: names are unique and well formed."""
    plugins: list[ChannelPlugin] = []
    for module_name in REGISTERED:
        plugin = getattr(importlib.import_module(module_name), "CHANNEL", None)
        if not isinstance(plugin, ChannelPlugin):
            raise TypeError(f"{module_name} does not expose CHANNEL, a ChannelPlugin")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", plugin.name):
            raise ValueError(f"{module_name}: {plugin.name!r} is not a channel name ([a-z0-9_])")
        if any(p.name == plugin.name for p in plugins):
            raise ValueError(f"two channels are named {plugin.name!r}")
        plugins.append(plugin)
    return tuple(plugins)


def channel_catalog() -> ChannelCatalog:
    """The registered channels as the core sees them: labels, and who keeps customer data."""
    plugins = registered_channels()
    return ChannelCatalog(
        labels={plugin.name: plugin.label for plugin in plugins}, customer_data=plugins
    )

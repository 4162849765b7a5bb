"""The registered channels as the core sees them: names, labels, who keeps customer data.

The core never lists the channels. The composition root fills a `ChannelCatalog` from the
channel registry (`channels.registry`) and hands it to whatever shows a channel to people
(reports, the agent console, the Slack desk) or erases a customer (`tsunagu forget`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.ports import CustomerData


@dataclass(frozen=True)
class Label:
    """A name shown to people, in the two languages the product speaks."""

    ja: str
    en: str

    def text(self, language: str | None) -> str:
        """The label in `language` ('ja' or 'en'; anything else gets English)."""
        return self.ja if (language or "").startswith("ja") else self.en


@dataclass(frozen=True)
class ChannelCatalog:
    """Every registered channel's label, in registry order, and the parts that keep data
    about customers (each channel, whether configured or not, so forget misses none)."""

    labels: Mapping[str, Label] = field(default_factory=dict)
    customer_data: Sequence[CustomerData] = ()

    @property
    def names(self) -> list[str]:
        """The registered channels' names, in registry order."""
        return list(self.labels)

    def label(self, channel: str, language: str | None = "en") -> str:
        """How people see `channel` (its name itself when it is not registered)."""
        known = self.labels.get(channel)
        return known.text(language) if known is not None else channel

    def label_map(self, language: str | None = "en") -> dict[str, str]:
        """Every channel's label in one language, by name."""
        return {name: label.text(language) for name, label in self.labels.items()}

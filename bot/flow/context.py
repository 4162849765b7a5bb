"""What every handler of the flow may consult."""

from __future__ import annotations

from dataclasses import dataclass

from bot.faq import FaqLibrary
from bot.flow.config import FlowConfig
from bot.ports import HandoffQueue
from bot.texts import Texts


@dataclass(frozen=True)
class FlowContext:
    """The FAQ, the texts, the queue and the admin's settings."""

    faq: FaqLibrary
    texts: Texts
    queue: HandoffQueue
    config: FlowConfig

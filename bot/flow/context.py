"""What every handler of the flow may consult."""

from __future__ import annotations

from dataclasses import dataclass

from bot.faq import FaqLibrary
from bot.flow.config import FlowConfig
from bot.identity import Linking
from bot.ports import HandoffQueue
from bot.texts import Texts


@dataclass(frozen=True)
class FlowContext:
    """The FAQ, the texts, the queue, the admin's settings and the linking of channels."""

    faq: FaqLibrary
    texts: Texts
    queue: HandoffQueue
    config: FlowConfig
    linking: Linking | None = None

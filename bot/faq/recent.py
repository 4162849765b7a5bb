"""The decisions of the last few thousand distinct short messages, kept in memory.

Customers say the same short things again and again (「ありがとう」, 「はい」, the question a
broadcast raised, a tapped topic's words): their decision is taken once per process and FAQ.
A decision depends only on the text and the matcher, which is replaced whole on reload, so
an entry is used only with the matcher that made it. Long messages are rarely repeated and
are not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from bot.faq.decision import Decision
from bot.faq.matcher import Matcher

RECENT_DECISIONS = 4096
RECENT_TEXT_MAX_CHARS = 200


class RecentDecisions:
    """A bounded map of message text to the decision a matcher took for it (least recently
    used out first)."""

    def __init__(self, size: int = RECENT_DECISIONS) -> None:
        self.size = size
        self._decisions: OrderedDict[str, tuple[Matcher, Decision]] = OrderedDict()
        self._lock = threading.Lock()  # the help center may decide from other threads

    def get(self, matcher: Matcher, text: str) -> Decision | None:
        """The decision `matcher` took for `text`, if it is kept."""
        with self._lock:
            kept = self._decisions.get(text)
            if kept is None or kept[0] is not matcher:
                return None
            self._decisions.move_to_end(text)
            return kept[1]

    def put(self, matcher: Matcher, text: str, decision: Decision) -> None:
        """Keep a decision (a short message's only)."""
        if len(text) > RECENT_TEXT_MAX_CHARS:
            return
        with self._lock:
            self._decisions[text] = (matcher, decision)
            self._decisions.move_to_end(text)
            while len(self._decisions) > self.size:
                self._decisions.popitem(last=False)

    def clear(self) -> None:
        """Forget every decision (after a reload: they name the previous matcher, and
        would keep it and its FAQ in memory until pushed out)."""
        with self._lock:
            self._decisions.clear()

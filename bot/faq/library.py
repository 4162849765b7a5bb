"""The FAQ as the running app sees it: loaded once, matched fast, reloaded on change."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from bot.faq.decision import Decision, MatchThresholds
from bot.faq.index import FaqIndex
from bot.faq.loader import FAQ_SUFFIXES, FaqLoadError, load_faq_dir
from bot.faq.matcher import decide
from bot.faq.model import FaqEntry

logger = logging.getLogger("tsunagu.faq")

TOP_TAG = "top"


class FaqLibrary:
    """A loaded FAQ directory with its search index.

    The index is immutable and replaced whole on reload, so `decide` needs no lock:
    a request uses whichever index it picked up first, old or new, never a mix.
    """

    def __init__(self, faq_dir: Path, thresholds: MatchThresholds | None = None) -> None:
        self.faq_dir = Path(faq_dir)
        self.thresholds = thresholds or MatchThresholds()
        self._reload_lock = threading.Lock()
        self._index = FaqIndex(load_faq_dir(self.faq_dir))  # raises FaqLoadError

    @property
    def index(self) -> FaqIndex:
        """The index in service now."""
        return self._index

    @property
    def entries(self) -> list[FaqEntry]:
        """All entries, in file order."""
        return list(self._index.faq.entries)

    def entry(self, entry_id: str) -> FaqEntry | None:
        """The entry with this id, or None (e.g. a button from before a reload)."""
        return self._index.by_id.get(entry_id)

    def top_entries(self, n: int) -> list[FaqEntry]:
        """Entries for a greeting's quick replies: those tagged 'top', else the first n."""
        entries = self._index.faq.entries
        tagged = [e for e in entries if TOP_TAG in e.tags]
        return list((tagged or list(entries))[:n])

    def decide(self, text: str, locale: str | None = None) -> Decision:
        """Answer, suggest or none for one customer message."""
        return decide(self._index, text, self.thresholds)

    def reload(self) -> bool:
        """Load the directory again; on problems keep the last good FAQ and log them."""
        with self._reload_lock:
            try:
                faq = load_faq_dir(self.faq_dir)
                index = FaqIndex(faq)
            except FaqLoadError as exc:
                logger.error("FAQ reload failed, still serving the previous FAQ. %s", exc)
                return False
            self._index = index  # one reference swap: atomic for readers
        logger.info("FAQ reloaded: %d entries from %s", len(faq.entries), self.faq_dir)
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever an FAQ file in the directory changes, until `stop` is set."""
        from watchfiles import awatch

        def relevant(_change: object, path: str) -> bool:
            return path.endswith(FAQ_SUFFIXES)

        logger.info("watching %s for FAQ changes", self.faq_dir)
        async for _changes in awatch(
            self.faq_dir, watch_filter=relevant, stop_event=stop, debounce=300, step=50
        ):
            # Building an index of a large FAQ takes a moment: keep the event loop free.
            try:
                await asyncio.to_thread(self.reload)
            except Exception as exc:  # one bad save must not stop the watching
                logger.error(
                    "FAQ reload failed, still serving the previous FAQ: %s: %s",
                    type(exc).__name__,
                    exc,
                )

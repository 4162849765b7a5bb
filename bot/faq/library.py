"""The FAQ as the running app sees it: loaded once, matched fast, reloaded on change."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from pathlib import Path

from bot.faq.decision import Decision, MatchSettings, Outcome
from bot.faq.embedding import NO_EMBEDDER, Embedder, EmbeddingCache, shared_embedder
from bot.faq.index import FaqIndex
from bot.faq.loader import FAQ_SUFFIXES, FaqLoadError, load_faq_dir
from bot.faq.matcher import Matcher
from bot.faq.model import FaqEntry
from bot.faq.policy import DECISION_FILE, DecisionPolicy, load_policy
from bot.faq.recent import RecentDecisions
from bot.faq.semantic import SemanticIndex

logger = logging.getLogger("tsunagu.faq")

TOP_TAG = "top"


def settle_heap() -> None:
    """Collect what is garbage now, then exempt everything left from later collections.

    A loaded FAQ is tens of thousands of long-lived objects (64,000 at 1,000 entries):
    every full collection walked them all, 53-75 ms at 1,000 entries and 140-250 ms at
    10,000, a pause that lands on about one decision in 4,000. Frozen, they are skipped.
    Unfreezing and collecting first matters on a reload: the previous FAQ holds cycles
    (the analyzer's cache refers back to the analyzer) that a frozen heap never frees;
    on a first load it frees what another FAQ of the same process left frozen.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class FaqLibrary:
    """A loaded FAQ directory with its indexes and decision policy.

    The matcher is immutable and replaced whole on reload, so `decide` needs no lock:
    a request uses whichever matcher it picked up first, old or new, never a mix.
    Entry embeddings are cached by text across reloads: a reload embeds only what changed.
    """

    def __init__(
        self,
        faq_dir: Path,
        settings: MatchSettings | None = None,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        """Load `faq_dir` (raises FaqLoadError); `embedder` overrides `settings.embedder`."""
        self.faq_dir = Path(faq_dir)
        self.settings = settings or MatchSettings()
        self.embedder = (
            embedder if embedder is not None else shared_embedder(self.settings.embedder)
        )
        self._cache = EmbeddingCache(self.embedder) if self.embedder is not None else None
        self._reload_lock = threading.Lock()
        self._matcher = self._build()
        self._recent = RecentDecisions()
        settle_heap()

    def _build(self) -> Matcher:
        index = FaqIndex(load_faq_dir(self.faq_dir))  # raises FaqLoadError
        policy, source = load_policy(
            self.faq_dir, self.embedder.name if self.embedder else NO_EMBEDDER
        )
        semantic = None
        if self._cache is not None and policy.embedder != NO_EMBEDDER:
            semantic = SemanticIndex(index.faq, self._cache)
        return Matcher(index, semantic, policy, source)

    @property
    def matcher(self) -> Matcher:
        """The matcher in service now."""
        return self._matcher

    @property
    def index(self) -> FaqIndex:
        """The lexical index in service now."""
        return self._matcher.index

    @property
    def policy(self) -> DecisionPolicy:
        """The decision policy in service now."""
        return self._matcher.policy

    @property
    def policy_source(self) -> str:
        """Where the policy in service was read from (a path, or the packaged default)."""
        return self._matcher.policy_source

    @property
    def entries(self) -> list[FaqEntry]:
        """All entries, in file order."""
        return list(self.index.faq.entries)

    def entry(self, entry_id: str) -> FaqEntry | None:
        """The entry with this id, or None (e.g. a button from before a reload)."""
        return self.index.by_id.get(entry_id)

    def top_entries(self, n: int) -> list[FaqEntry]:
        """Entries for a greeting's quick replies: those tagged 'top', else the first n."""
        entries = self.index.faq.entries
        tagged = [e for e in entries if TOP_TAG in e.tags]
        return list((tagged or list(entries))[:n])

    def decide(self, text: str, locale: str | None = None) -> Decision:
        """Answer, suggest or none for one customer message; never raises.

        Entries match in any language (the meaning signal is cross-lingual); `locale` only
        picks the language of the answer, later. A message the matcher cannot handle gets
        `none` (and a person offered) rather than an error: customers must get a reply.
        """
        matcher = self._matcher
        recent = self._recent.get(matcher, text)
        if recent is not None:
            return recent
        try:
            decision = matcher.decide(text, self.settings.max_suggestions)
        except Exception:
            logger.exception("FAQ matching failed on a %d-character message", len(text))
            return Decision(Outcome.NONE)
        if matcher is self._matcher:  # not one a reload just replaced: it would linger
            self._recent.put(matcher, text, decision)
        return decision

    def reload(self) -> bool:
        """Load the directory again; on problems keep the last good FAQ and log them."""
        with self._reload_lock:
            try:
                matcher = self._build()
            except FaqLoadError as exc:
                logger.error("FAQ reload failed, still serving the previous FAQ. %s", exc)
                return False
            self._matcher = matcher  # one reference swap: atomic for readers
            self._recent.clear()
            settle_heap()
        count = len(matcher.index.faq.entries)
        logger.info("FAQ reloaded: %d entries from %s", count, self.faq_dir)
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever an FAQ file (or the decision file) changes, until `stop` is set."""
        from watchfiles import awatch

        def relevant(_change: object, path: str) -> bool:
            return path.endswith(FAQ_SUFFIXES) or Path(path).name == DECISION_FILE

        logger.info("watching %s for FAQ changes", self.faq_dir)
        async for _changes in awatch(
            self.faq_dir, watch_filter=relevant, stop_event=stop, debounce=300, step=50
        ):
            # Building the indexes of a large FAQ takes a moment: keep the event loop free.
            try:
                await asyncio.to_thread(self.reload)
            except Exception as exc:  # one bad save must not stop the watching
                logger.error(
                    "FAQ reload failed, still serving the previous FAQ: %s: %s",
                    type(exc).__name__,
                    exc,
                )

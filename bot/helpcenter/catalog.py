"""The FAQ as the help center shows it: articles in a language, grouped by tag."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.faq import FaqEntry

TOP_TAG = "top"  # the FAQ's own mark for the most asked entries (greetings use it too)
UNTAGGED = ""


@dataclass(frozen=True)
class Article:
    """One FAQ entry in one language."""

    id: str
    title: str
    answer: str
    tags: tuple[str, ...]

    @property
    def topic(self) -> str:
        """The tag the index files the article under: its first one other than 'top'."""
        return next((t for t in self.tags if t != TOP_TAG), UNTAGGED)


@dataclass(frozen=True)
class Topic:
    """A tag and its articles, for the index."""

    tag: str
    label: str
    articles: tuple[Article, ...]


def article(entry: FaqEntry, language: str) -> Article:
    """The entry with its title and answer in `language` (or the closest the FAQ has)."""
    return Article(
        id=entry.id,
        title=entry.label_for(language),
        answer=entry.answer_for(language),
        tags=tuple(entry.tags),
    )


def topics(
    entries: Sequence[FaqEntry], language: str, label_of: Callable[[str], str]
) -> list[Topic]:
    """Articles grouped by topic, topics in the order the FAQ first uses them (untagged last).

    Each article appears once, under its first tag, so the index is as long as the FAQ.
    """
    groups: dict[str, list[Article]] = {}
    for entry in entries:
        item = article(entry, language)
        groups.setdefault(item.topic, []).append(item)
    ordered = sorted(groups, key=lambda tag: tag == UNTAGGED)  # stable: file order otherwise
    return [Topic(tag, label_of(tag), tuple(groups[tag])) for tag in ordered]


def popular(
    entries: Sequence[FaqEntry], views: dict[str, int], language: str, limit: int
) -> list[Article]:
    """The most read articles; without enough views, the FAQ's 'top' entries fill in."""
    by_id = {e.id: e for e in entries}
    read = sorted((i for i, n in views.items() if n > 0 and i in by_id), key=lambda i: -views[i])
    tagged = [e.id for e in entries if TOP_TAG in e.tags]
    fallback = tagged or [e.id for e in entries]
    chosen = list(dict.fromkeys([*read, *fallback]))[:limit]
    return [article(by_id[i], language) for i in chosen]

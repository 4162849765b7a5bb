"""Grouping the messages the bot could not answer by similarity, to suggest new FAQ entries."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Protocol

from rapidfuzz import fuzz, process

from bot.faq.model import is_japanese
from bot.faq.normalize import clean
from bot.reports.model import UnansweredGroup

SIMILARITY = 0.5  # 0-1: at least half the words of the two messages pair up
TYPO_RATIO = 85  # rapidfuzz ratio (0-100) from which two longer words count as one
GROUP_LIMIT = 20
# Bounds on the work per message (10,000 messages of any length group in well under 2 s,
# see bench/report_grouping.py): a question's gist is in its first words.
COMPARED_CHARS = 120  # characters of a message that are compared
MAX_UNITS = 40  # words (or Japanese character pairs) compared per message
CANDIDATES = 8  # groups compared in full with each message: those sharing most words
POSTINGS = 32  # groups indexed under one word: a word most groups share tells little
MAX_WORDINGS = 500  # distinct wordings grouped, most frequent first; rarer ones are not
VARIANTS_SHOWN = 4


def comparable(text: str) -> str:
    """The form two messages are compared in: cleaned, and for Japanese, character bigrams.

    Japanese has no spaces between words, so word-set similarity would see one "word";
    overlapping pairs of characters stand in for words instead.
    """
    cleaned = clean(text)
    if not is_japanese(cleaned):
        return cleaned
    chars = cleaned.replace(" ", "")
    if len(chars) < 2:
        return chars
    return " ".join(chars[i : i + 2] for i in range(len(chars) - 1))


class Miss(Protocol):
    """A question nothing answered: a chat message (`UnansweredMessage`) or a help-center
    search with no result (`HelpSearch`)."""

    @property
    def text(self) -> str: ...
    @property
    def time(self) -> float: ...
    @property
    def best_faq_id(self) -> str | None: ...
    @property
    def best_score(self) -> float | None: ...
    @property
    def source(self) -> str: ...


Units = Sequence[frozenset[str]]
"""A message's words, each with its synonyms' concepts (see `bot.faq.analyzer`)."""
UnitsOf = Callable[[str], Units]


def plain_units(text: str) -> Units:
    """Units without a thesaurus: each word (or Japanese character pair) alone."""
    return [frozenset({f"w:{token}"}) for token in dict.fromkeys(comparable(text).split())]


def similarity(a_units: Units, b_units: Units) -> float:
    """How alike two messages are (0-1): the share of their words that pair up.

    Two words pair up when they share a concept of the thesaurus (店舗 / お店, store /
    shop) or are spelled nearly alike (typos); each word pairs with one other at most.
    """
    return _Profile(a_units).similarity(_Profile(b_units))


class _Profile:
    """A message's units, indexed so that comparing two costs about their length.

    Exact pairs (a shared concept) are found through a concept-to-units map; only the words
    left over are compared for typos, each against the other's leftovers by rapidfuzz's
    C loop with a score cutoff, and only when typos could still tip the verdict.
    """

    __slots__ = ("by_concept", "long_words", "size", "tokens", "units")

    def __init__(self, units: Units):
        self.units = list(units)[:MAX_UNITS]
        self.size = len(self.units)
        self.by_concept: dict[str, list[int]] = {}
        for i, unit in enumerate(self.units):
            for concept in unit:
                self.by_concept.setdefault(concept, []).append(i)
        self.tokens = frozenset(self.by_concept)
        self.long_words = [_long_words(unit) for unit in self.units]

    def similarity(self, other: _Profile, threshold: float = 0.0) -> float:
        """`similarity` of the two messages; typos are looked at only if they could lift
        the score to `threshold`."""
        total = self.size + other.size
        if not self.size or not other.size:
            return 0.0
        taken: set[int] = set()
        left: list[int] = []
        for i, unit in enumerate(self.units):
            match = next(
                (j for c in unit for j in other.by_concept.get(c, ()) if j not in taken), None
            )
            if match is None:
                left.append(i)
            else:
                taken.add(match)
        pairs = len(taken)
        # A typo may complete a likeness, not make one: looked at only past half-way.
        if left and 2 * pairs / total >= threshold / 2:
            pairs += _typo_pairs(
                [self.long_words[i] for i in left],
                [words for j, words in enumerate(other.long_words) if j not in taken],
            )
        return 2 * pairs / total


def _long_words(unit: frozenset[str]) -> list[str]:
    return [t for t in unit if t.startswith("w:") and len(t) >= 6]


def _typo_pairs(ours: list[list[str]], theirs: list[list[str]]) -> int:
    """How many of our leftover units pair with one of theirs by a near spelling."""
    owners = [i for i, words in enumerate(theirs) for _ in words]
    choices = [w for words in theirs for w in words]
    free = set(range(len(theirs)))
    pairs = 0
    for words in ours:
        for word in words:
            found = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=TYPO_RATIO)
            if found is not None and owners[found[2]] in free:
                free.discard(owners[found[2]])
                pairs += 1
                break
    return pairs


@dataclass
class _Group:
    text: str
    profile: _Profile
    messages: list[Miss] = field(default_factory=list)


def group_unanswered(
    messages: Iterable[Miss],
    faq_questions: Mapping[str, str],
    *,
    units_of: UnitsOf = plain_units,
    tz: tzinfo = UTC,
    limit: int = GROUP_LIMIT,
    threshold: float = SIMILARITY,
) -> list[UnansweredGroup]:
    """Similar messages in groups, most frequent first (at most `limit` groups).

    Wordings are visited from the most frequent, so each group is led by its most common
    wording, and a message joins the group whose leader it resembles most (if enough).
    Pass the FAQ analyzer's units as `units_of` to let synonyms meet.

    The work is bounded whatever the number and length of the messages: a message is read
    up to `COMPARED_CHARS` characters and `MAX_UNITS` words, and compared in full only with
    the `CANDIDATES` groups sharing most of its words (found through an index holding, per
    word, the `POSTINGS` most frequent groups that have it); past the `MAX_WORDINGS` most
    frequent distinct wordings, the rarer ones (each seen as rarely as the last grouped
    one, usually once) are counted in the total but not grouped.
    """
    by_wording: dict[str, list[Miss]] = defaultdict(list)
    for m in messages:
        by_wording[" ".join(m.text[:COMPARED_CHARS].casefold().split())].append(m)
    ranked = sorted(by_wording.values(), key=lambda ms: (-len(ms), ms[0].text))
    groups: list[_Group] = []
    index: dict[str, list[int]] = defaultdict(list)
    for members in ranked[:MAX_WORDINGS]:
        text = members[0].text
        if not comparable(text[:COMPARED_CHARS]):
            continue  # a bare greeting or emoji says nothing about a missing entry
        profile = _Profile(units_of(text[:COMPARED_CHARS]))
        shared: Counter[int] = Counter()
        for token in profile.tokens:
            shared.update(index.get(token, ()))
        scored = [
            (profile.similarity(groups[i].profile, threshold), i)
            for i, count in shared.most_common(CANDIDATES)
            # Too few words in common to reach half the threshold even with typos aside.
            if 2 * count / (profile.size + groups[i].profile.size) >= threshold / 2
        ]
        best = max(scored, default=(0.0, -1))
        if best[0] >= threshold:
            groups[best[1]].messages.extend(members)
            continue
        for token in profile.tokens:
            postings = index[token]
            if len(postings) < POSTINGS:
                postings.append(len(groups))
        groups.append(_Group(text, profile, list(members)))
    groups.sort(key=lambda g: (-len(g.messages), -max(m.time for m in g.messages)))
    return [_summary(g, faq_questions, tz) for g in groups[:limit]]


def _summary(group: _Group, faq_questions: Mapping[str, str], tz: tzinfo) -> UnansweredGroup:
    wordings = Counter(m.text.strip() for m in group.messages)
    latest = {m.text.strip(): m.time for m in group.messages}  # messages come oldest first
    ranked = sorted(wordings, key=lambda t: (-wordings[t], -latest[t]))
    candidates = Counter(m.best_faq_id for m in group.messages if m.best_faq_id)
    best_id = candidates.most_common(1)[0][0] if candidates else None
    best_scores = [
        m.best_score
        for m in group.messages
        if m.best_faq_id == best_id and m.best_score is not None
    ]
    return UnansweredGroup(
        text=ranked[0],
        count=len(group.messages),
        last_seen=datetime.fromtimestamp(max(m.time for m in group.messages), tz),
        variants=ranked[1 : 1 + VARIANTS_SHOWN],
        channels=dict(Counter(m.source for m in group.messages).most_common()),
        best_faq_id=best_id,
        best_faq_question=faq_questions.get(best_id) if best_id else None,
        best_score=round(sum(best_scores) / len(best_scores), 3) if best_scores else None,
    )

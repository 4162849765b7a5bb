"""Grouping the messages the bot could not answer by similarity, to suggest new FAQ entries."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from rapidfuzz import fuzz

from bot.faq.model import is_japanese
from bot.faq.normalize import clean
from bot.records import UnansweredMessage
from bot.reports.model import UnansweredGroup

SIMILARITY = 0.5  # 0-1: at least half the words of the two messages pair up
TYPO_RATIO = 85  # rapidfuzz ratio (0-100) from which two longer words count as one
GROUP_LIMIT = 20
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
    if not a_units or not b_units:
        return 0.0
    free = list(b_units)
    pairs = 0
    for unit in a_units:
        match = next((v for v in free if unit & v or _near(unit, v)), None)
        if match is not None:
            free.remove(match)
            pairs += 1
    return 2 * pairs / (len(a_units) + len(b_units))


def _near(a: frozenset[str], b: frozenset[str]) -> bool:
    words_a = [t for t in a if t.startswith("w:") and len(t) >= 6]
    words_b = [t for t in b if t.startswith("w:") and len(t) >= 6]
    return any(fuzz.ratio(x, y) >= TYPO_RATIO for x in words_a for y in words_b)


@dataclass
class _Group:
    text: str
    units: Units
    messages: list[UnansweredMessage] = field(default_factory=list)


def group_unanswered(
    messages: Iterable[UnansweredMessage],
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
    """
    by_form: dict[str, list[UnansweredMessage]] = defaultdict(list)
    for m in messages:
        form = comparable(m.text)
        if form:  # a bare greeting or emoji says nothing about a missing entry
            by_form[form].append(m)
    groups: list[_Group] = []
    for members in sorted(by_form.values(), key=lambda ms: (-len(ms), ms[0].text)):
        text = members[0].text
        units = units_of(text)
        scored = [(similarity(units, g.units), i) for i, g in enumerate(groups)]
        best = max(scored, default=(0.0, -1))
        if best[0] >= threshold:
            groups[best[1]].messages.extend(members)
        else:
            groups.append(_Group(text, units, list(members)))
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
        channels=dict(Counter(m.channel.value for m in group.messages).most_common()),
        best_faq_id=best_id,
        best_faq_question=faq_questions.get(best_id) if best_id else None,
        best_score=round(sum(best_scores) / len(best_scores), 3) if best_scores else None,
    )

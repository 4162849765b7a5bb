"""Learning from customers: labelled examples in, an `FaqProposal` out (pure functions).

The examples are report records: "did you mean…?" choices customers tapped (their words
meant that entry), customer messages an agent answered with that entry's suggested answer
(used as is or edited), answers customers said did not solve it (in a chat, or "no" under
a help-center article), questions neither the bot nor the help-center search could answer,
and what agents replied to those.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.faq.model import FaqEntry
from bot.faq.normalize import clean
from bot.faq.proposal import (
    EntryAlternatives,
    EntryDraft,
    FaqProposal,
    NewAlternative,
    RejectedEntry,
)
from bot.records import (
    AgentAnswered,
    AgentSuggestion,
    ConversationRecord,
    FaqChoice,
    FaqRejected,
    HelpFeedback,
    HelpSearch,
    UnansweredMessage,
    current_feedback,
)
from bot.reports.model import Period
from bot.reports.similar import (
    SIMILARITY,
    Miss,
    UnitsOf,
    group_unanswered,
    plain_units,
    similarity,
)

MIN_SEEN = 2  # a phrasing or question seen once may be one customer's slip
MAX_PHRASING_CHARS = 60  # longer messages are stories, not ways of asking
NEAR_EXACT = 90  # rapidfuzz ratio (0-100) from which a phrasing adds nothing to an entry
MIN_REJECTIONS = 3
REJECTION_RATE = 0.25  # one customer in four says the answer did not solve it
QUESTIONS_SHOWN = 3
COMMENTS_SHOWN = 3
REPLIES_SHOWN = 3
MAX_REPLY_CHARS = 500
DRAFT_LIMIT = 10

# What must not go into an FAQ file: e-mail addresses, links, phone / order / card numbers
# and postcodes (runs of digits, with or without hyphens).
_PERSONAL = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.-]+"
    r"|https?://|www\."
    r"|\d{5,}"
    r"|\d[\d\- ]{6,}\d"
)
_EN_STOP = frozenset(
    "a an the i you we my your our me is are am be do does did can could will would shall "
    "should may might have has had there here it its this that of to in on at for from with "
    "by about any some please what when where how why which who get got want like know "
    "tell let us if or and not no yes".split()
)


@dataclass(frozen=True)
class LearnSettings:
    """The thresholds of a proposal (the defaults suit a few hundred conversations a day)."""

    min_seen: int = MIN_SEEN
    min_rejections: int = MIN_REJECTIONS
    rejection_rate: float = REJECTION_RATE


def looks_personal(text: str) -> bool:
    """Whether `text` seems to hold personal data (an address, a number that names someone)."""
    return bool(_PERSONAL.search(unicodedata.normalize("NFKC", text)))


def usable_phrasing(text: str) -> bool:
    """Whether a customer's words may become FAQ text: short, meaningful, nobody's data."""
    text = text.strip()
    return bool(clean(text)) and len(text) <= MAX_PHRASING_CHARS and not looks_personal(text)


def adds_nothing(text: str, texts: Iterable[str]) -> bool:
    """Whether `text` is (nearly) one of `texts` already, once folded and cleaned."""
    form = clean(text)
    return any(fuzz.ratio(form, clean(known)) >= NEAR_EXACT for known in texts)


def learn(
    *,
    entries: Sequence[FaqEntry],
    choices: Iterable[FaqChoice],
    rejections: Iterable[FaqRejected],
    conversations: Iterable[ConversationRecord],
    unanswered: Iterable[UnansweredMessage],
    agent_answers: Iterable[AgentAnswered],
    help_searches: Iterable[HelpSearch] = (),
    help_feedback: Iterable[HelpFeedback] = (),
    agent_suggestions: Iterable[AgentSuggestion] = (),
    period: Period | None = None,
    units_of: UnitsOf = plain_units,
    settings: LearnSettings | None = None,
) -> FaqProposal:
    """The proposal for the FAQ `entries` from a period's records (pass only that period's)."""
    settings = settings or LearnSettings()
    misses: list[Miss] = [*unanswered, *(s for s in help_searches if s.outcome == "none")]
    misses.sort(key=lambda m: m.time)
    return FaqProposal(
        since=period.since if period else None,
        until=period.until if period else None,
        alternatives=propose_alternatives(
            entries, choices, settings.min_seen, suggestions=agent_suggestions
        ),
        rejected=rejected_entries(entries, rejections, conversations, settings, help_feedback),
        new=draft_entries(entries, misses, list(agent_answers), units_of, settings.min_seen),
    )


def propose_alternatives(
    entries: Sequence[FaqEntry],
    choices: Iterable[FaqChoice],
    min_seen: int = MIN_SEEN,
    *,
    suggestions: Iterable[AgentSuggestion] = (),
) -> list[EntryAlternatives]:
    """Customers' phrasings for the entries they meant, most seen first.

    Two kinds of labelled example say which entry a customer's words meant: a "did you
    mean…?" choice the customer tapped, and a message an agent answered with the entry's
    suggested answer (as is or edited; `ignored` labels nothing). A phrasing goes to the
    entry more than half of its labels chose (else it is ambiguous), once at least
    `min_seen` taps chose it or any agent did (a person read the message and judged), unless
    some entry says it (nearly) already.
    """
    by_id = {entry.id: entry for entry in entries}
    every_text = [text for entry in entries for text in entry.texts]
    taps: dict[str, Counter[str]] = defaultdict(Counter)  # cleaned form -> entry id -> taps
    agents: dict[str, Counter[str]] = defaultdict(Counter)  # cleaned form -> entry id -> agents
    wordings: dict[str, Counter[str]] = defaultdict(Counter)  # cleaned form -> raw wordings
    labels = [(c.question, c.faq_id, taps) for c in choices] + [
        (s.message, s.faq_id, agents) for s in suggestions if s.outcome in ("used", "edited")
    ]
    for words, faq_id, tally in labels:
        form = clean(words)
        if form and faq_id in by_id:
            tally[form][faq_id] += 1
            wordings[form][words.strip()] += 1
    found: dict[str, list[NewAlternative]] = defaultdict(list)
    for form in wordings:
        counts = taps[form] + agents[form]
        faq_id, votes = counts.most_common(1)[0]
        seen, answered = taps[form][faq_id], agents[form][faq_id]
        text = wordings[form].most_common(1)[0][0]
        if seen < min_seen and not answered:
            continue
        if 2 * votes <= counts.total() or not usable_phrasing(text):
            continue
        if adds_nothing(text, by_id[faq_id].texts) or clean(text) in map(clean, every_text):
            continue
        found[faq_id].append(NewAlternative(text=text, seen=seen, agents=answered))
    proposals = [
        EntryAlternatives(
            id=faq_id,
            question=by_id[faq_id].question,
            add=sorted(adds, key=lambda a: (-(a.seen + a.agents), a.text)),
        )
        for faq_id, adds in found.items()
    ]
    return sorted(proposals, key=lambda p: (-sum(a.seen + a.agents for a in p.add), p.id))


def rejected_entries(
    entries: Sequence[FaqEntry],
    rejections: Iterable[FaqRejected],
    conversations: Iterable[ConversationRecord],
    settings: LearnSettings | None = None,
    help_feedback: Iterable[HelpFeedback] = (),
) -> list[RejectedEntry]:
    """Entries whose answer customers often said did not solve it, highest rate first.

    Either evidence lists an entry: the bot's answer rejected in chats, or readers of its
    help-center article answering "no" (each reader's newest answer, with their comment),
    each at least `min_rejections` times and at `rejection_rate` or more.
    """
    settings = settings or LearnSettings()
    readers: Counter[str] = Counter()
    not_helped: Counter[str] = Counter()
    comments: dict[str, list[str]] = defaultdict(list)
    for f in sorted(current_feedback(help_feedback), key=lambda f: -f.time):
        readers[f.faq_id] += 1
        if not f.helpful:
            not_helped[f.faq_id] += 1
            comment = (f.comment or "").strip()
            if comment and comment not in comments[f.faq_id] and not looks_personal(comment):
                comments[f.faq_id].append(comment)
    by_id = {entry.id: entry for entry in entries}
    answered = Counter(faq_id for c in conversations for faq_id in c.faq_answered)
    rejected: Counter[str] = Counter()
    asked: dict[str, Counter[str]] = defaultdict(Counter)
    for rejection in rejections:
        rejected[rejection.faq_id] += 1
        if rejection.question and usable_phrasing(rejection.question):
            asked[rejection.faq_id][rejection.question.strip()] += 1
    found = []
    for faq_id in by_id.keys() & (set(rejected) | set(not_helped)):
        count = rejected[faq_id]
        # Conversations still open have no record yet: never show a rate above 100%.
        times = max(answered[faq_id], count)
        rate = count / times if times else 0.0
        help_rate = not_helped[faq_id] / readers[faq_id] if readers[faq_id] else 0.0

        def often(count: int, rate: float) -> bool:
            return count >= settings.min_rejections and rate >= settings.rejection_rate

        if often(count, rate) or often(not_helped[faq_id], help_rate):
            found.append(
                RejectedEntry(
                    id=faq_id,
                    question=by_id[faq_id].question,
                    answered=times,
                    rejected=count,
                    rate=round(rate, 3),
                    questions=[q for q, _ in asked[faq_id].most_common(QUESTIONS_SHOWN)],
                    help_answers=readers[faq_id],
                    not_helpful=not_helped[faq_id],
                    help_rate=round(help_rate, 3),
                    comments=comments[faq_id][:COMMENTS_SHOWN],
                )
            )
    return sorted(
        found, key=lambda r: (-max(r.rate, r.help_rate), -(r.rejected + r.not_helpful), r.id)
    )


def draft_entries(
    entries: Sequence[FaqEntry],
    unanswered: Sequence[Miss],
    agent_answers: Sequence[AgentAnswered],
    units_of: UnitsOf = plain_units,
    min_seen: int = MIN_SEEN,
) -> list[EntryDraft]:
    """New entries from groups of similar unanswered questions, most frequent first.

    The questions are chat messages the bot could not answer and help-center searches that
    found nothing (`HelpSearch` with outcome `none`), grouped together as on /admin.

    The question is the group's most common wording, the alternatives its others; the
    answer is left for the admin, with what agents replied to such questions beside it.
    """
    every_text = [text for entry in entries for text in entry.texts]
    questions = {entry.id: entry.question for entry in entries}
    taken = {entry.id for entry in entries}
    drafts = []
    for group in group_unanswered(unanswered, questions, units_of=units_of):
        wordings = [w for w in [group.text, *group.variants] if usable_phrasing(w)]
        if group.count < min_seen or not wordings or adds_nothing(wordings[0], every_text):
            continue  # too rare, nothing quotable, or answered by an entry since
        question, alternatives = wordings[0], list[str]()
        for wording in wordings[1:]:
            if not adds_nothing(wording, [question, *alternatives, *every_text]):
                alternatives.append(wording)
        draft_id = _unique_id(_slug(wordings), taken)
        taken.add(draft_id)
        drafts.append(
            EntryDraft(
                id=draft_id,
                question=question,
                alternatives=alternatives,
                seen=group.count,
                help_center=group.channels.get("help", 0),
                closest=group.best_faq_id,
                agent_replies=_replies_to(wordings, agent_answers, units_of),
            )
        )
        if len(drafts) == DRAFT_LIMIT:
            break
    return drafts


def _replies_to(
    wordings: list[str], agent_answers: Sequence[AgentAnswered], units_of: UnitsOf
) -> list[str]:
    """Agents' first replies to questions like these, newest first, nobody's data in them."""
    group_units = [units_of(w) for w in wordings]
    replies: list[str] = []
    for answer in sorted(agent_answers, key=lambda a: -a.time):
        reply = answer.reply.strip()
        if reply in replies or len(reply) > MAX_REPLY_CHARS or looks_personal(reply):
            continue
        if any(
            similarity(units_of(question), units) >= SIMILARITY
            for question in answer.questions
            for units in group_units
        ):
            replies.append(reply)
            if len(replies) == REPLIES_SHOWN:
                break
    return replies


def _slug(wordings: list[str]) -> str:
    """An id from the first English wording's content words (e.g. 'store-osaka')."""
    for wording in wordings:
        if wording.isascii():
            words = re.findall(r"[a-z0-9]+", wording.lower())
            content = [w for w in words if w not in _EN_STOP]
            if content:
                return "-".join(content[:3])
    return "new-entry"


def _unique_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate

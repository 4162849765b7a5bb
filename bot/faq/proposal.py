"""The FAQ proposal file that `tsunagu faq learn` writes and an admin reviews.

One YAML file, three sections: new `alternatives` for existing entries, entries customers
often `rejected` after the answer (to rewrite by hand), and `new` entry drafts whose answer
the admin writes. Whatever is left in the file when it is applied is merged; the admin
deletes what they do not want.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.faq.model import NonEmpty

PROPOSAL_KIND = "tsunagu-faq-proposal"
EntryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class _Strict(BaseModel):
    # A typo in a key the admin edited must be an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid")


class NewAlternative(_Strict):
    """A customer phrasing to add to an entry's `alternatives`."""

    text: NonEmpty
    seen: int = Field(default=0, description="How many customers meant the entry with it.")
    agents: int = Field(
        default=0, description="How many agent replies answered it with the entry's answer."
    )


class EntryAlternatives(_Strict):
    """New alternatives for one existing entry."""

    id: EntryId
    question: str = Field(default="", description="The entry's question, for reference only.")
    add: list[NewAlternative]


class RejectedEntry(_Strict):
    """An entry whose answer customers often said did not solve their problem, in a chat
    (after the bot's answer) or in the help center (「この記事で解決しましたか？」 no)."""

    id: EntryId
    question: str = ""
    answered: int = Field(description="How often the bot gave this answer in the period.")
    rejected: int = Field(description="How often a customer said it did not solve it.")
    rate: float = Field(description="rejected / answered.")
    questions: list[str] = Field(
        default_factory=list, description="What those customers had asked, most frequent first."
    )
    help_answers: int = Field(default=0, description="Help-center readers who said yes or no.")
    not_helpful: int = Field(default=0, description="Of those, how many said it did not help.")
    help_rate: float = Field(default=0.0, description="not_helpful / help_answers.")
    comments: list[str] = Field(
        default_factory=list, description="What those readers wrote they missed, newest first."
    )


class EntryDraft(_Strict):
    """A new entry drafted from a group of unanswered questions; the admin writes the answer."""

    id: EntryId
    question: NonEmpty
    alternatives: list[NonEmpty] = Field(default_factory=list)
    answer: str | dict[str, str] = Field(
        default="", description="Left empty for the admin: it must be written before applying."
    )
    tags: list[NonEmpty] = Field(default_factory=list)
    keywords: list[NonEmpty] = Field(default_factory=list)
    seen: int = Field(default=0, description="Unanswered messages in the group.")
    help_center: int = Field(
        default=0, description="Of those, help-center searches that found nothing."
    )
    closest: str | None = Field(default=None, description="The nearest existing entry, if any.")
    agent_replies: list[str] = Field(
        default_factory=list, description="What agents answered these questions, newest first."
    )

    def has_answer(self) -> bool:
        """Whether the admin wrote an answer (every language given is non-empty)."""
        if isinstance(self.answer, str):
            return bool(self.answer.strip())
        return bool(self.answer) and all(text.strip() for text in self.answer.values())

    def faq_entry(self) -> dict[str, Any]:
        """The entry as it goes into an FAQ file (the hints stay behind)."""
        entry: dict[str, Any] = {"id": self.id, "question": self.question}
        if self.alternatives:
            entry["alternatives"] = list(self.alternatives)
        entry["answer"] = self.answer
        for key in ("tags", "keywords"):
            if getattr(self, key):
                entry[key] = list(getattr(self, key))
        return entry


class FaqProposal(_Strict):
    """What customers taught the FAQ over a period."""

    kind: Literal["tsunagu-faq-proposal"] = "tsunagu-faq-proposal"
    since: datetime | None = None
    until: datetime | None = None
    alternatives: list[EntryAlternatives] = Field(default_factory=list)
    rejected: list[RejectedEntry] = Field(default_factory=list)
    new: list[EntryDraft] = Field(default_factory=list)

    @property
    def items(self) -> int:
        """How many things wait for the admin: each alternative, rejected entry and draft."""
        return sum(len(a.add) for a in self.alternatives) + len(self.rejected) + len(self.new)


_HEADER = """\
# FAQ proposal: what customers taught the FAQ {period}.
# Nothing changes until you apply it. Review it first:
#   alternatives: customers' own words for existing entries ("did you mean…?" choices they
#                 tapped, seen = how many times; messages agents answered with the entry's
#                 suggested answer, agents = how many). Delete the ones you do not want.
#   rejected:     entries customers often said did not solve it, in chats or in the help
#                 center (comments: what readers missed). Rewrite those answers in the FAQ
#                 yourself: applying this file does not touch them.
#   new:          entry drafts from questions the bot and the help center could not answer
#                 (help_center = searches among them). Write each answer (agent_replies
#                 shows what agents told customers), or delete the draft.
# Then:  tsunagu faq check {name}
#        tsunagu faq learn --apply {name}
"""

_SECTIONS = {
    "alternatives": "# New alternatives for existing entries.",
    "rejected": "# Answers customers often rejected (for reading; not applied).",
    "new": "# New entries: write each `answer:` before applying, or delete the draft.",
}


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as people write YAML (and as the sample FAQ is)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_yaml(data: object) -> str:
    """YAML as an admin would write it: block style, unicode as is, keys in their order."""
    return yaml.dump(
        data,
        Dumper=_IndentedDumper,
        allow_unicode=True,
        sort_keys=False,
        width=10_000,
        default_flow_style=False,
    )


def render_proposal(proposal: FaqProposal, name: str = "faq_proposal.yaml") -> str:
    """The proposal as the YAML file the admin edits, with comments explaining each part."""
    if proposal.since and proposal.until:
        period = f"from {proposal.since:%Y-%m-%d %H:%M} to {proposal.until:%Y-%m-%d %H:%M}"
    else:
        period = "over the whole record history"
    data = proposal.model_dump(mode="json")
    parts = [
        _HEADER.format(period=period, name=name),
        dump_yaml({key: data[key] for key in ("kind", "since", "until")}),
    ]
    for key, comment in _SECTIONS.items():
        parts.append(f"\n{comment}\n")
        parts.append(dump_yaml({key: data[key]}))
    return "".join(parts)


def proposal_lines(proposal: FaqProposal, days: int) -> list[str]:
    """The proposal summed up for a terminal."""
    if not proposal.items:
        return [
            f"Nothing to propose from the last {days} days: no phrasing, rejection or "
            "unanswered question was seen often enough."
        ]
    span = ""
    if proposal.since and proposal.until:
        span = f" ({proposal.since:%Y-%m-%d} to {proposal.until:%Y-%m-%d})"
    lines = [f"FAQ proposal from the last {days} days{span}: {proposal.items} items"]
    if proposal.alternatives:
        added = sum(len(item.add) for item in proposal.alternatives)
        lines.append(
            f"\nNew alternatives ({added} for {len(proposal.alternatives)} entries), "
            "from the “did you mean…?” choices customers tapped and the suggested answers "
            "agents sent:"
        )
        for item in proposal.alternatives:
            lines.append(f"  {item.id}  {item.question}")
            lines += [f"    + {alt.text}  ({_evidence(alt)})" for alt in item.add]
    if proposal.rejected:
        lines.append(
            f"\nOften rejected after the answer ({len(proposal.rejected)}): rewrite these answers"
        )
        for entry in proposal.rejected:
            said = []
            if entry.rejected:
                said.append(
                    f"{entry.rejected} of {entry.answered} answers rejected ({entry.rate:.0%})"
                )
            if entry.not_helpful:
                said.append(
                    f"{entry.not_helpful} of {entry.help_answers} help-center readers not "
                    f"helped ({entry.help_rate:.0%})"
                )
            lines.append(f"  {entry.id}  {entry.question}  {'; '.join(said)}")
            lines += [f"    asked: {question}" for question in entry.questions]
            lines += [f"    reader: {_short(comment)}" for comment in entry.comments]
    if proposal.new:
        lines.append(
            f"\nNew entry drafts ({len(proposal.new)}) from unanswered questions: "
            "write their answers"
        )
        for draft in proposal.new:
            found = f", {draft.help_center} from the help center" if draft.help_center else ""
            lines.append(f"  {draft.id}  {draft.question}  ({draft.seen} messages{found})")
            lines += [f"    also: {alternative}" for alternative in draft.alternatives]
            lines += [f"    agent replied: {_short(reply)}" for reply in draft.agent_replies]
    return lines


def _evidence(alternative: NewAlternative) -> str:
    parts = []
    if alternative.seen:
        parts.append(f"seen {alternative.seen}×")
    if alternative.agents:
        parts.append(f"agents answered it {alternative.agents}×")
    return ", ".join(parts)


def _short(text: str, limit: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

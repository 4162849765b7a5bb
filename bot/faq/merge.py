"""Checking a proposal against the FAQ and merging it into the FAQ files.

`check_proposal` says everything that stands in the way (with the proposal's line
numbers); `apply_proposal` merges only a proposal that passes, after a backup of every file
it changes. New alternatives and entries are inserted into the admin's own text, so the
comments and layout stay; when the file's shape does not allow that (flow style lists, say),
the file is written anew by PyYAML and its comments are lost (the backup keeps them).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.faq.index import FaqIndex
from bot.faq.lint import CloseQuestions, close_questions
from bot.faq.loader import (
    FaqLoadError,
    FaqProblem,
    _field_path,
    _node_at,
    load_faq_dir,
)
from bot.faq.model import FaqSet
from bot.faq.proposal import PROPOSAL_KIND, FaqProposal, dump_yaml


class ProposalError(Exception):
    """The proposal cannot be applied; `.problems` says where and why."""

    def __init__(self, problems: list[FaqProblem]) -> None:
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the proposal"
        return "\n".join([head + ":", *(f"  {p}" for p in self.problems)])


@dataclass
class ProposalCheck:
    """What `check_proposal` found."""

    proposal: FaqProposal | None
    problems: list[FaqProblem] = field(default_factory=list)
    warnings: list[CloseQuestions] = field(default_factory=list)
    merged: FaqSet | None = None


@dataclass
class Applied:
    """What `apply_proposal` changed."""

    alternatives: int
    entries: int
    files: list[Path]
    backups: list[Path]
    rewritten: list[Path] = field(default_factory=list)  # written anew: comments lost


def is_proposal(path: Path) -> bool:
    """Whether `path` is a proposal file (rather than an FAQ file or directory)."""
    if not path.is_file():
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == PROPOSAL_KIND


def read_proposal(path: Path) -> tuple[FaqProposal | None, list[FaqProblem], yaml.Node | None]:
    """Parse a proposal file; problems carry its line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FaqProblem(path, None, "", f"cannot read file: {exc}")], None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [FaqProblem(path, line, "", f"invalid YAML: {exc}")], None
    if root is None or not isinstance(data, dict):
        return (
            None,
            [FaqProblem(path, 1, "", "expected a proposal (kind: tsunagu-faq-proposal)")],
            None,
        )
    try:
        return FaqProposal.model_validate(data), [], root
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if isinstance(p, int | str)]
            loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p == "str"))]
            line = _node_at(root, loc).start_mark.line + 1
            problems.append(FaqProblem(path, line, _field_path(loc), err["msg"]))
        return None, problems, root


def check_proposal(path: Path, faq_dir: Path) -> ProposalCheck:
    """Everything that stands between the proposal and the FAQ, and the FAQ it would make."""
    proposal, problems, root = read_proposal(path)
    if proposal is None or root is None:
        return ProposalCheck(None, problems)
    try:
        faq = load_faq_dir(faq_dir)
    except FaqLoadError as exc:
        return ProposalCheck(proposal, exc.problems)

    def at(*loc: int | str) -> int:
        assert root is not None
        return int(_node_at(root, list(loc), key_last=False).start_mark.line) + 1

    known = {entry.id for entry in faq.entries}
    for i, item in enumerate(proposal.alternatives):
        if item.id not in known:
            message = f"no FAQ entry '{item.id}' (renamed or removed since the proposal?)"
            problems.append(
                FaqProblem(path, at("alternatives", i, "id"), f"alternatives[{i}].id", message)
            )
    drafted: set[str] = set()
    for i, draft in enumerate(proposal.new):
        where = f"new[{i}]"
        if draft.id in known or draft.id in drafted:
            message = f"id '{draft.id}' is taken: choose another"
            problems.append(FaqProblem(path, at("new", i, "id"), f"{where}.id", message))
        drafted.add(draft.id)
        if not draft.has_answer():
            message = "write the answer before applying (or delete this draft)"
            problems.append(FaqProblem(path, at("new", i, "answer"), f"{where}.answer", message))
    if problems:
        return ProposalCheck(proposal, problems)
    # The proof: the merged FAQ loads, in a scratch copy of the directory.
    with tempfile.TemporaryDirectory(prefix="tsunagu-faq-") as scratch:
        merged_files = _merged_files(proposal, faq)
        for file in faq.files:
            text = merged_files[file].text if file in merged_files else file.read_text("utf-8")
            (Path(scratch) / file.name).write_text(text, encoding="utf-8")
        try:
            merged = load_faq_dir(Path(scratch))
        except FaqLoadError as exc:
            moved = [
                FaqProblem(faq_dir / p.file.name, p.line, p.field, p.message) for p in exc.problems
            ]
            return ProposalCheck(proposal, moved)
    return ProposalCheck(proposal, [], close_questions(FaqIndex(merged)), merged)


def apply_proposal(path: Path, faq_dir: Path, *, now: datetime) -> Applied:
    """Merge a proposal that passes `check_proposal` into `faq_dir`, backing up each file.

    Backups sit beside the files as `<name>.bak-YYYYmmdd-HHMMSS` (the FAQ loader reads only
    *.yaml / *.yml, so they are never served). Each file is replaced in one rename, so the
    FAQ reload sees either the old file or the new one.
    """
    checked = check_proposal(path, faq_dir)
    if checked.problems or checked.proposal is None:
        raise ProposalError(checked.problems)
    faq = load_faq_dir(faq_dir)
    merged = _merged_files(checked.proposal, faq)
    stamp = f"{now:%Y%m%d-%H%M%S}"
    applied = Applied(
        alternatives=sum(len(a.add) for a in checked.proposal.alternatives),
        entries=len(checked.proposal.new),
        files=[],
        backups=[],
    )
    for file, result in merged.items():
        backup = file.with_name(f"{file.name}.bak-{stamp}")
        shutil.copy2(file, backup)
        _replace(file, result.text)
        applied.files.append(file)
        applied.backups.append(backup)
        if not result.kept_layout:
            applied.rewritten.append(file)
    return applied


@dataclass(frozen=True)
class _MergedFile:
    text: str
    kept_layout: bool


def _merged_files(proposal: FaqProposal, faq: FaqSet) -> dict[Path, _MergedFile]:
    """The new text of every FAQ file the proposal changes."""
    adds: dict[Path, dict[str, list[str]]] = {}
    for item in proposal.alternatives:
        file = faq.origins[item.id][0]
        adds.setdefault(file, {}).setdefault(item.id, []).extend(a.text for a in item.add)
    new_entries = [draft.faq_entry() for draft in proposal.new]
    first = faq.files[0] if faq.files else None  # new entries go to the first file
    changed = set(adds) | ({first} if new_entries and first else set())
    out = {}
    for file in changed:
        extra = new_entries if file == first else []
        out[file] = _merge_file(file.read_text(encoding="utf-8"), adds.get(file, {}), extra)
    return out


def _merge_file(
    text: str, adds: dict[str, list[str]], new_entries: list[dict[str, Any]]
) -> _MergedFile:
    """One file with alternatives added to its entries and new entries at the end of `faqs`."""
    data = yaml.safe_load(text) or {}
    expected = copy.deepcopy(data)
    faqs = expected.setdefault("faqs", [])
    for entry in faqs:
        if isinstance(entry, dict) and entry.get("id") in adds:
            have = entry.setdefault("alternatives", [])
            have.extend(
                t for t in adds[entry["id"]] if t not in have and t != entry.get("question")
            )
    faqs.extend(new_entries)
    edited = _insert_in_place(text, expected, data)
    if edited is not None and yaml.safe_load(edited) == expected:
        return _MergedFile(edited, kept_layout=True)
    return _MergedFile(dump_yaml(expected), kept_layout=False)


def _insert_in_place(text: str, expected: dict[str, Any], original: dict[str, Any]) -> str | None:
    """The admin's text with the new lines inserted where they belong, or None if it can't."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    faqs_node = _node_at(root, ["faqs"], key_last=False) if root is not None else None
    if not isinstance(faqs_node, yaml.SequenceNode) or faqs_node.flow_style or not faqs_node.value:
        return None
    inserts: list[tuple[int, int, str]] = []  # (position, order at that position, text)
    old_faqs = original.get("faqs") or []
    for i, (node, entry) in enumerate(zip(faqs_node.value, expected["faqs"], strict=False)):
        before = old_faqs[i].get("alternatives") or [] if isinstance(old_faqs[i], dict) else []
        added = (entry.get("alternatives") or [])[len(before) :]
        if not added:
            continue
        found = _alternatives_insert(text, node, added)
        if found is None:
            return None
        inserts.append((found[0], 1, found[1]))
    new_entries = expected["faqs"][len(old_faqs) :]
    if new_entries:
        position = _line_end(text, faqs_node.value[-1].end_mark)
        indent = " " * faqs_node.start_mark.column
        lines = dump_yaml(new_entries).splitlines()
        inserts.append((position, 0, _entries_block(lines, indent)))
    out = text if text.endswith("\n") else text + "\n"
    # From the end backwards, so earlier positions stay valid.
    for position, _, addition in sorted(inserts, key=lambda x: (-x[0], x[1])):
        out = out[:position] + addition + out[position:]
    return out


def _entries_block(lines: list[str], indent: str) -> str:
    """Dumped entries, indented like the file's own, each after a blank line."""
    out = []
    for line in lines:
        if line.startswith("- "):
            out.append("\n")
        out.append(f"{indent}{line}\n")
    return "".join(out)


def _alternatives_insert(text: str, entry: yaml.Node, added: list[str]) -> tuple[int, str] | None:
    """Where and what to insert to add `added` to one entry's alternatives."""
    if not isinstance(entry, yaml.MappingNode) or entry.flow_style:
        return None
    nodes = {getattr(k, "value", None): (k, v) for k, v in entry.value}
    if "alternatives" in nodes:
        _, seq = nodes["alternatives"]
        if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
            return None
        indent = " " * seq.start_mark.column
        return _line_end(text, seq.value[-1].end_mark), _items(added, indent)
    if "question" not in nodes:
        return None
    key, value = nodes["question"]
    indent = " " * key.start_mark.column
    block = f"{indent}alternatives:\n" + _items(added, indent + "  ")
    return _line_end(text, value.end_mark), block


def _items(texts: list[str], indent: str) -> str:
    dumped = dump_yaml(texts).splitlines()
    return "".join(f"{indent}{line}\n" for line in dumped)


def _line_end(text: str, mark: yaml.Mark) -> int:
    """The start of the line after `mark` (or `mark` itself when it starts a line)."""
    if mark.column == 0:
        return int(mark.index)
    newline = text.find("\n", mark.index)
    return len(text) + 1 if newline < 0 else newline + 1


def _replace(file: Path, text: str) -> None:
    """Write `text` to `file` in one rename (never a half-written FAQ file)."""
    fd, temp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

"""Reading an FAQ directory: YAML files in, a validated `FaqSet` or precise problems out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.faq.model import FaqEntry, FaqFile, FaqSet

FAQ_SUFFIXES = (".yaml", ".yml")
MAX_DEPTH = 32  # an FAQ file nests 4 levels; thousands would overflow the parser's stack


@dataclass(frozen=True)
class FaqProblem:
    """One thing wrong in an FAQ file, located for the admin who has to fix it."""

    file: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class FaqLoadError(Exception):
    """The FAQ directory could not be loaded; `.problems` says where and why."""

    def __init__(self, problems: Sequence[FaqProblem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the FAQ"
        return "\n".join([head + ":", *(f"  {p}" for p in self.problems)])


def faq_files(path: Path) -> list[Path]:
    """The FAQ files of a directory (only *.yaml / *.yml), in a stable order."""
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in FAQ_SUFFIXES)


def _field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _node_at(root: yaml.Node, loc: Sequence[int | str], key_last: bool = True) -> yaml.Node:
    """The deepest YAML node along a pydantic error location (for its line number)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
            if not found:
                return node
            key, value = found[0]
            # An unknown key is best shown on the key itself.
            node = key if key_last and part == loc[-1] else value
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _duplicate_keys(node: yaml.Node, path: Path, loc: str = "") -> list[FaqProblem]:
    """PyYAML keeps the last of two equal keys silently; admins need to hear about it."""
    problems: list[FaqProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            where = f"{loc}.{name}" if loc else name
            if name in seen:
                line = key.start_mark.line + 1
                problems.append(FaqProblem(path, line, where, "key appears twice"))
            seen.add(name)
            problems += _duplicate_keys(value, path, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, path, f"{loc}[{i}]")
    return problems


def _too_deep(text: str) -> int | None:
    """The line where `text` nests lists and mappings past `MAX_DEPTH`, if it does.

    Read from the parser's event stream, which is iterative: building the nodes (recursive)
    of a file nested thousands deep would raise RecursionError instead of a problem.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                return mark.line + 1 if mark is not None else 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def load_faq_file(path: Path) -> tuple[FaqFile | None, list[FaqProblem], list[int]]:
    """Parse and validate one file; returns the file, its problems and each entry's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FaqProblem(path, None, "", f"cannot read file: {exc}")], []
    try:
        deep_at = _too_deep(text)
        if deep_at is not None:
            message = f"lists or mappings nested too deeply (more than {MAX_DEPTH} levels)"
            return None, [FaqProblem(path, deep_at, "", message)], []
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [FaqProblem(path, line, "", f"invalid YAML: {reason}")], []
    if root is None or data is None:
        return FaqFile(), [], []
    problems = _duplicate_keys(root, path)
    if not isinstance(data, dict):
        return None, [FaqProblem(path, 1, "", "expected a mapping with a 'faqs:' list")], []
    try:
        parsed = FaqFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [p for p in err["loc"] if isinstance(p, int | str)]
            # Drop pydantic's union branch names (e.g. 'str', 'dict[str,...]') from the path.
            loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p == "str"))]
            node = _node_at(root, loc)
            line = node.start_mark.line + 1
            problems.append(FaqProblem(path, line, _field_path(loc), err["msg"]))
        return None, _dedupe(problems), []
    lines = [0] * len(parsed.faqs)
    faqs_node = _node_at(root, ["faqs"], key_last=False)
    if isinstance(faqs_node, yaml.SequenceNode):
        lines = [item.start_mark.line + 1 for item in faqs_node.value]
    return (parsed if not problems else None), problems, lines


def _dedupe(problems: list[FaqProblem]) -> list[FaqProblem]:
    seen: set[tuple[int | None, str]] = set()
    out = []
    for p in problems:
        if (p.line, p.field) not in seen:
            seen.add((p.line, p.field))
            out.append(p)
    return out


def load_faq_dir(path: Path) -> FaqSet:
    """Load every FAQ file in `path`; raise `FaqLoadError` naming each problem found."""
    path = Path(path)
    if not path.is_dir():
        raise FaqLoadError([FaqProblem(path, None, "", "FAQ directory not found")])
    files = faq_files(path)
    problems: list[FaqProblem] = []
    entries: list[FaqEntry] = []
    synonyms: list[tuple[str, ...]] = []
    origins: dict[str, tuple[Path, int]] = {}
    for file in files:
        parsed, file_problems, lines = load_faq_file(file)
        problems += file_problems
        if parsed is None:
            continue
        synonyms += [tuple(group) for group in parsed.synonyms]
        for i, (entry, line) in enumerate(zip(parsed.faqs, lines, strict=False)):
            if entry.id in origins:
                first_file, first_line = origins[entry.id]
                message = f"duplicate id '{entry.id}' (first defined at {first_file}:{first_line})"
                problems.append(FaqProblem(file, line, f"faqs[{i}].id", message))
                continue
            origins[entry.id] = (file, line)
            entries.append(entry)
    if not problems and not entries:
        problems.append(
            FaqProblem(path, None, "", "no FAQ entries found (*.yaml files with 'faqs:')")
        )
    if problems:
        raise FaqLoadError(problems)
    return FaqSet(tuple(entries), tuple(synonyms), tuple(files), origins)

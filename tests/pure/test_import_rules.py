"""The direction of imports between the project's packages (docs/design.md, "Layout").

Pure: reads the source files, imports nothing of them, needs no server and no Redis.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "channels", "handoff")
COMPOSITION = "bot.composition"
SHARED_CHANNEL_MODULES = ("channels.base", "channels.registry", "channels.simulation")


def module_name(path: Path) -> str:
    """`bot/faq/index.py` -> `bot.faq.index`; a package's `__init__` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module `path` imports, type-only imports included (they couple too)."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from channels import line` imports the package `channels.line`.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def channel_of(module: str) -> str | None:
    """`channels.line.sender` -> `channels.line`; shared modules belong to no channel."""
    parts = module.split(".")
    if parts[0] != "channels" or len(parts) < 2 or module.startswith(SHARED_CHANNEL_MODULES):
        return None
    return ".".join(parts[:2])


def broken_rule(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None when it may."""
    if within(importer, COMPOSITION):
        return None  # the composition root wires everything together
    if within(imported, COMPOSITION):
        return "only the composition root imports the composition root"
    if within(importer, "bot") and within(imported, "channels"):
        return "the core never names a channel (channels are plugged in by the registry)"
    if within(importer, "bot") and within(imported, "handoff"):
        return "the core knows handoff only through bot.ports"
    if within(importer, "handoff") and within(imported, "channels"):
        return "handoff serves every channel and names none"
    if importer == "channels.registry":
        return None  # the one list of channels
    mine, theirs = channel_of(importer), channel_of(imported)
    if theirs is not None and mine != theirs:
        return "a channel imports no other channel (and shared code imports none)"
    return None


def all_imports() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            importer = module_name(path)
            for imported in imports_of(path):
                if imported.split(".")[0] in PACKAGES:
                    found.append((importer, imported))
    return found


def test_imports_point_one_way() -> None:
    broken = [
        f"{importer} imports {imported}: {why}"
        for importer, imported in all_imports()
        if (why := broken_rule(importer, imported)) is not None
    ]
    assert broken == [], "\n".join(broken)


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("bot.dispatcher", "bot.ports", True),
        ("bot.dispatcher", "channels.line", False),
        ("bot.forget", "handoff.queue", False),
        ("bot.composition.runtime", "channels.registry", True),
        ("channels.line.cli", "bot.composition.app", False),
        ("channels.slack.desk", "handoff.agents", True),
        ("channels.slack.desk", "channels.line.keys", False),
        ("channels.line.plugin", "channels.base", True),
        ("channels.base", "channels.web", False),
        ("channels.messenger.cli", "channels.simulation", True),
        ("channels.simulation", "channels.line.fake_platform", False),
        ("handoff.console.views", "channels.web.router", False),
    ],
)
def test_the_rules_themselves(importer: str, imported: str, allowed: bool) -> None:
    assert (broken_rule(importer, imported) is None) is allowed


def test_every_registered_channel_keeps_the_contract() -> None:
    """Each registry line names a package exposing a plugin whose name fits everywhere a
    channel name goes (customer keys, records, lanes), with a label in both languages."""
    from bot.model import Inbound
    from channels.registry import REGISTERED, registered_channels

    plugins = registered_channels()
    assert [p.name for p in plugins] == [m.rsplit(".", 1)[-1] for m in REGISTERED]
    for plugin in plugins:
        assert plugin.label.ja and plugin.label.en
        assert Inbound(event_id="e", channel=plugin.name, user_id="u").customer_key == (
            f"{plugin.name}:u"
        )

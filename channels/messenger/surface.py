"""The two products of Meta's Messenger Platform this package serves, and what differs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def characters(text: str) -> int:
    """Length in characters (code points): how Messenger counts a text."""
    return len(text)


def utf8_bytes(text: str) -> int:
    """Length in UTF-8 bytes: how Instagram counts a text (a kana counts three)."""
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Surface:
    """Messenger or Instagram Direct: one webhook `object`, one text limit, one profile."""

    name: str  # the channel's name, the first half of its customer keys
    webhook_object: str  # the `object` of the webhooks Meta posts for it
    text_limit: int
    text_length: Callable[[str], int]
    profile_fields: str  # the User Profile API fields that name the customer


def display_name(profile: dict[str, object]) -> str | None:
    """A customer's name from their profile: first and last name (Messenger), else name or
    @username (Instagram); None when it gives none."""
    first_last = " ".join(str(profile.get(f) or "") for f in ("first_name", "last_name")).strip()
    username = profile.get("username")
    name = first_last or str(profile.get("name") or "") or (f"@{username}" if username else "")
    return name[:100] or None


# Send API limits: 2,000 characters of text on Messenger, 1,000 bytes on Instagram.
MESSENGER = Surface("messenger", "page", 2000, characters, "first_name,last_name")
INSTAGRAM = Surface("instagram", "instagram", 1000, utf8_bytes, "name,username")

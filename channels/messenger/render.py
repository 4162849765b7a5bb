"""Channel-neutral replies rendered as Send API messages, within Meta's limits.

Limits (Send API and quick-replies references): one message per call, text of at most
2,000 characters on Messenger and 1,000 bytes on Instagram (`Surface.text_limit`), at most
13 quick replies, titles of 20 characters (longer ones are cut by the apps), payloads of
1,000 characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.choice_data import pack_choice
from bot.model import Choice, Reply
from channels.messenger.surface import Surface

MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
ELLIPSIS = "…"

Message = dict[str, Any]

# Where a long text is best cut, most natural first.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[。！？.!?])\s*"))


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _prefix(text: str, limit: int, length: Callable[[str], int]) -> str:
    """The longest prefix of `text` whose length is within `limit`."""
    low, high = 0, min(len(text), limit)
    while low < high:  # length() grows with the prefix: find the longest that fits
        middle = (low + high + 1) // 2
        if length(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def split_text(text: str, limit: int, length: Callable[[str], int] = len) -> list[str]:
    """Cut a long text into parts within `limit` (as `length` counts), at paragraph, line or
    sentence ends where possible, mid-text only when one sentence is longer than that."""
    parts: list[str] = []
    rest = text.strip()
    while length(rest) > limit:
        window = _prefix(rest, limit, length)
        cut = 0
        for pattern in _BREAKS:
            ends = [m.end() for m in pattern.finditer(window) if m.start() > len(window) // 3]
            if ends:
                cut = ends[-1]
                break
        cut = cut or len(window) or 1
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def choice_payload(choice: Choice) -> str:
    """A quick reply's payload: the choice's payload and as much of its label as fits, so
    the tap reads as the whole label although the button shows 20 characters."""
    return pack_choice(choice, MAX_PAYLOAD)


def quick_replies(choices: list[Choice]) -> list[dict[str, str]]:
    """Text quick replies for the choices (the first 13, which is all the flow offers)."""
    return [
        {
            "content_type": "text",
            "title": shorten(choice.label, MAX_TITLE) or ELLIPSIS,
            "payload": choice_payload(choice),
        }
        for choice in choices[:MAX_QUICK_REPLIES]
    ]


def render(reply: Reply, surface: Surface) -> list[Message]:
    """One reply as Send API `message` objects, one per call; its choices ride on the last
    one as quick replies (they show under the newest message only)."""
    parts = split_text(reply.text, surface.text_limit, surface.text_length)
    if not parts and reply.choices:
        parts = [ELLIPSIS]
    messages: list[Message] = [{"text": part} for part in parts]
    if reply.choices and messages:
        messages[-1]["quick_replies"] = quick_replies(reply.choices)
    return messages

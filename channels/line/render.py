"""Channel-neutral replies rendered as LINE message objects, within LINE's limits.

Limits (Messaging API reference): 5 message objects per reply or push call, 5,000
characters per text message, 13 quick-reply buttons, 20 characters per button label,
300 characters of postback data. Characters are counted in UTF-16 code units, as LINE does.
"""

from __future__ import annotations

import re
from typing import TypeVar

from linebot.v3.messaging import PostbackAction, QuickReply, QuickReplyItem, TextMessage

from bot.choice_data import pack_choice
from bot.model import Choice, Reply

T = TypeVar("T")

MAX_MESSAGES_PER_CALL = 5
MAX_TEXT = 5000
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_DATA = 300
MAX_DISPLAY_TEXT = 300
ELLIPSIS = "…"

# Where a long text is best cut, most natural first.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[。！？.!?])\s*"))


def units(text: str) -> int:
    """Length as LINE counts it (UTF-16 code units: an emoji may count twice)."""
    return len(text.encode("utf-16-le")) // 2


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` units, ending with an ellipsis when something was cut."""
    if units(text) <= limit:
        return text
    cut = text
    while units(cut) > limit - 1:
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS


def _hard_prefix(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` units."""
    cut = text[:limit]
    while units(cut) > limit:
        cut = cut[:-1]
    return cut


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut a long text into parts of at most `limit` units, at paragraph, line or sentence
    ends where possible, mid-text only when a single sentence is longer than the limit."""
    parts: list[str] = []
    rest = text.strip()
    while units(rest) > limit:
        window = _hard_prefix(rest, limit)
        cut = 0
        for pattern in _BREAKS:
            ends = [m.end() for m in pattern.finditer(window) if m.start() > limit // 3]
            if ends:
                cut = ends[-1]
                break
        if cut == 0:
            cut = len(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def postback_data(choice: Choice) -> str:
    """Postback data carrying the choice's payload and as much of its label as fits."""
    return pack_choice(choice, MAX_DATA)


def quick_reply(choices: list[Choice]) -> QuickReply | None:
    """Quick-reply buttons for the choices (the first 13); the full label is what the
    customer is shown to have said when tapping."""
    if not choices:
        return None
    items = [
        QuickReplyItem(
            action=PostbackAction(
                label=shorten(choice.label, MAX_LABEL),
                data=postback_data(choice),
                displayText=shorten(choice.label, MAX_DISPLAY_TEXT),
            )
        )
        for choice in choices[:MAX_QUICK_REPLIES]
    ]
    return QuickReply(items=items)


def render(reply: Reply) -> list[TextMessage]:
    """One reply as text messages; its choices ride on the last one as quick replies."""
    parts = split_text(reply.text) or ([ELLIPSIS] if reply.choices else [])
    messages = [TextMessage(text=part) for part in parts]
    buttons = quick_reply(reply.choices)
    if buttons is not None and messages:
        messages[-1].quick_reply = buttons
    return messages


def calls(items: list[T]) -> list[list[T]]:
    """Messages grouped into API calls of at most five."""
    step = MAX_MESSAGES_PER_CALL
    return [items[i : i + step] for i in range(0, len(items), step)]

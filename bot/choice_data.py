"""A choice carried through a platform's opaque button field (LINE's postback data, Meta's
quick-reply and postback payloads), so that a tap comes back with the choice's payload and
the label the customer read, although the button itself shows only a few characters."""

from __future__ import annotations

import json

from bot.model import Choice


def pack_choice(choice: Choice, limit: int) -> str:
    """The choice's payload and as much of its label as fits in `limit` characters."""
    label = choice.label
    while True:
        data = json.dumps(
            {"p": choice.payload, "t": label}, ensure_ascii=False, separators=(",", ":")
        )
        if len(data) <= limit or not label:
            break
        label = label[: -max(1, len(data) - limit)]
    if len(data) > limit:  # a payload this long is a bug upstream: keep what fits
        data = choice.payload[:limit]
    return data


def unpack_choice(data: str) -> tuple[str, str | None]:
    """(payload, label) of packed data; data we did not write (a rich menu's, a persistent
    menu's, an ice breaker's) is the payload itself."""
    if data.startswith('{"p":'):
        try:
            fields = json.loads(data)
        except ValueError:
            return data, None
        if isinstance(fields, dict) and isinstance(fields.get("p"), str):
            label = fields.get("t")
            return fields["p"], label if isinstance(label, str) and label else None
    return data, None

"""Messenger Platform webhooks (Messenger and Instagram Direct) read into `MetaEvent`s.

A webhook body is `{"object": "page" | "instagram", "entry": [...]}`; each entry is one
Page or Instagram account with a `messaging` list of events. A customer's message (typed,
a quick-reply tap, attachments) and a postback (a button of a menu or template) each become
one event; everything else Meta may send there (echoes of our own sends, reads,
deliveries, reactions, referrals, thread-control changes…) is deliberately ignored with a
log line saying why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from bot.choice_data import unpack_choice
from bot.model import InboundKind
from channels.messenger.surface import Surface

log = logging.getLogger("tsunagu.messenger")

Item = dict[str, Any]

# Fields of a `messaging` item we know and leave alone, and why.
IGNORED_FIELDS = {
    "read": "read receipts are not used",
    "delivery": "delivery receipts are not used",
    "reaction": "reactions are not answered",
    "message_edit": "the edited message was handled as first sent",
    "optin": "opt-ins are not used",
    "referral": "referrals (ads, links) are not used",
    "account_linking": "account linking is not used",
    "policy_enforcement": "a policy notice is for the Page's admins",
    "pass_thread_control": "the handover protocol is not used",
    "take_thread_control": "the handover protocol is not used",
    "request_thread_control": "the handover protocol is not used",
    "app_roles": "the handover protocol is not used",
    "game_play": "games are not used",
    "response_feedback": "feedback on responses is not used",
}


# The payload to give Messenger's "Get Started" button: the customer is greeted.
GET_STARTED = "GET_STARTED"


class MalformedWebhook(ValueError):
    """A signed body that is not shaped as Meta's webhooks are."""


@dataclass(frozen=True)
class MetaEvent:
    """One thing a customer did, read from a webhook."""

    event_id: str  # stable across Meta's redeliveries: the message's (or postback's) mid
    user_id: str  # the customer's Page-scoped (PSID) or Instagram-scoped (IGSID) id
    account_id: str  # the Page or Instagram account written to
    kind: InboundKind
    text: str
    payload: str | None = None
    sent_at: float | None = None  # Meta's time of the event, epoch seconds


def read_webhook(document: object, surface: Surface) -> list[MetaEvent]:
    """The customer events of one webhook body, in order. Raises `MalformedWebhook` when
    the body is not an object with an `entry` list; events of another object (a
    subscription to something else) are ignored."""
    if not isinstance(document, dict):
        raise MalformedWebhook("the body is not a JSON object")
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        raise MalformedWebhook("entry is not a list")
    if document.get("object") != surface.webhook_object:
        log.warning(
            "%s: webhook for another object ignored",
            surface.name,
            extra={"object": str(document.get("object"))[:50]},
        )
        return []
    events: list[MetaEvent] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if entry.get("standby"):
            log.info("%s: standby events ignored (another app holds the thread)", surface.name)
        account_id = str(entry.get("id", ""))
        messaging = entry.get("messaging") or []
        if not isinstance(messaging, list):
            log.warning("%s: an entry whose messaging is not a list ignored", surface.name)
            continue
        for item in messaging:
            if not isinstance(item, dict):
                continue
            try:
                event = read_item(item, account_id, surface)
            except (AttributeError, TypeError, ValueError) as exc:
                # Signed, so from someone with the app secret, but not as Meta sends it.
                log.warning(
                    "%s: unreadable event ignored", surface.name, extra={"error": repr(exc)[:200]}
                )
                continue
            if event is not None:
                events.append(event)
    return events


def read_item(item: Item, account_id: str, surface: Surface) -> MetaEvent | None:
    """One `messaging` item as a `MetaEvent`, or None when it is deliberately ignored."""
    sender = (item.get("sender") or {}).get("id")
    if "message" in item:
        read = _message(item["message"], surface)
    elif "postback" in item:
        read = _postback(item["postback"])
    else:
        known = next((field for field in IGNORED_FIELDS if field in item), None)
        if known is not None:
            log.debug("%s: event ignored", surface.name, extra={"field": known})
        else:
            fields = ",".join(sorted(k for k in item if k not in _ENVELOPE))[:100]
            log.warning("%s: unknown event ignored", surface.name, extra={"fields": fields})
        return None
    if read is None:
        return None
    if not isinstance(sender, str | int) or not str(sender) or str(sender) == account_id:
        log.info("%s: event without a customer ignored", surface.name)
        return None
    kind, text, payload, mid = read
    return MetaEvent(
        event_id=f"{surface.name}:{mid or _digest(item)}",
        user_id=str(sender),
        account_id=account_id,
        kind=kind,
        text=text,
        payload=payload,
        sent_at=_seconds(item.get("timestamp")),
    )


_ENVELOPE = {"sender", "recipient", "timestamp"}
_Read = tuple[InboundKind, str, str | None, str | None]


def _message(message: Any, surface: Surface) -> _Read | None:
    if not isinstance(message, dict):
        raise TypeError("message is not an object")
    mid = _mid(message)
    if message.get("is_echo"):
        log.debug("%s: echo of a message the account sent ignored", surface.name)
        return None
    if message.get("is_deleted"):
        log.info("%s: the customer unsent a message; the transcript keeps it", surface.name)
        return None
    text = str(message.get("text") or "")
    quick = message.get("quick_reply")
    if isinstance(quick, dict) and quick.get("payload") is not None:
        payload, label = unpack_choice(str(quick["payload"]))
        return InboundKind.CHOICE, label or text or payload, payload, mid
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    story = _story_reply(message)
    if text:
        # A link typed in the text arrives with a `fallback` preview of itself too.
        extra = [describe(a) for a in attachments if a.get("type") != "fallback"]
        return InboundKind.TEXT, "\n".join([text, *extra, *story]), None, mid
    described = [describe(a) for a in attachments] + story or ["[unsupported message]"]
    return InboundKind.MEDIA, "\n".join(described), None, mid


def _postback(postback: Any) -> _Read:
    if not isinstance(postback, dict):
        raise TypeError("postback is not an object")
    payload, label = unpack_choice(str(postback.get("payload") or ""))
    title = str(postback.get("title") or "")
    if payload == GET_STARTED:
        return InboundKind.FOLLOW, title, None, _mid(postback)
    return InboundKind.CHOICE, label or title or payload, payload, _mid(postback)


def describe(attachment: dict[str, Any]) -> str:
    """An attachment as agents read it: its kind and a link to open it."""
    kind = str(attachment.get("type") or "attachment")
    payload = attachment.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    if kind == "location" and isinstance(payload.get("coordinates"), dict):
        lat, lng = payload["coordinates"].get("lat"), payload["coordinates"].get("long")
        return f"[location] ({lat}, {lng}) https://www.google.com/maps?q={lat},{lng}"
    if payload.get("sticker_id"):
        kind = "sticker"
    title = str(attachment.get("title") or payload.get("title") or "")
    url = str(payload.get("url") or attachment.get("url") or "")
    return " ".join(part for part in (f"[{kind}]", title, url) if part)


def _story_reply(message: dict[str, Any]) -> list[str]:
    """On Instagram, a message replying to the account's story links the story."""
    reply_to = message.get("reply_to")
    story = reply_to.get("story") if isinstance(reply_to, dict) else None
    url = story.get("url") if isinstance(story, dict) else None
    return [f"[story reply] {url}"] if url else []


def _mid(part: dict[str, Any]) -> str | None:
    mid = part.get("mid")
    return str(mid) if isinstance(mid, str) and mid else None


def _digest(item: Item) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:32]


# Event times are epoch milliseconds; one past the last second `datetime` can show
# (9999-12-31) is no time at all, and neither is infinity or NaN (Python's JSON reads both).
_LAST_SECOND = 253_402_300_799


def _seconds(timestamp: object) -> float | None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    if not 0 <= timestamp <= _LAST_SECOND * 1000:  # False for NaN too
        return None
    return float(timestamp) / 1000

"""LINE webhook events turned into channel-neutral `Inbound` events.

One function per family of events; every event type LINE sends (and any it adds later)
either becomes one `Inbound` or is deliberately ignored with a log line saying why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.choice_data import unpack_choice
from bot.model import Inbound, InboundKind
from channels.line.settings import NAME, LineSettings

log = logging.getLogger("tsunagu.line")

Event = dict[str, Any]

# Event types we know and deliberately leave alone (nothing for a support bot to do).
IGNORED_TYPES = {
    "unsend": "the customer unsent a message; the transcript keeps it for the agent",
    "join": "joined a group or room",
    "leave": "removed from a group or room",
    "memberJoined": "a member joined a group",
    "memberLeft": "a member left a group",
    "beacon": "beacons are not used",
    "accountLink": "account linking is not used",
    "things": "LINE Things devices are not used",
    "videoPlayComplete": "video play tracking is not used",
    "membership": "memberships are not used",
    "activated": "module channels are not used",
    "deactivated": "module channels are not used",
    "botSuspended": "module channels are not used",
    "botResumed": "module channels are not used",
    "module": "module channels are not used",
    "pnpDeliveryCompletion": "LINE notification messages are not used",
}


def content_signature(secret: str, message_id: str) -> str:
    """The signature that makes a content link usable only as we handed it out."""
    digest = hmac.new(secret.encode(), f"content:{message_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


class EventReader:
    """Reads LINE webhook events with this account's settings."""

    def __init__(self, settings: LineSettings):
        self.settings = settings

    def content_link(self, message_id: str) -> str:
        """A link agents can open to see an image, video, audio or file the customer sent."""
        signature = content_signature(self.settings.channel_secret or "", message_id)
        base = self.settings.public_base_url.rstrip("/")
        return f"{base}{self.settings.content_path}/{message_id}?sig={signature}"

    def read(self, event: Event) -> Inbound | None:
        """The `Inbound` for one webhook event, or None when it is deliberately ignored."""
        kind = str(event.get("type", ""))
        source = event.get("source", {})
        if not isinstance(source, dict):
            log.warning("line: event whose source is not an object ignored", extra={"type": kind})
            return None
        user_id = source.get("userId")
        if kind in IGNORED_TYPES:
            log.info("line: event ignored", extra={"type": kind, "why": IGNORED_TYPES[kind]})
            return None
        readers: dict[str, Callable[[Event], tuple[InboundKind, str, str | None] | None]] = {
            "message": self._message,
            "postback": self._postback,
            "follow": lambda _: (InboundKind.FOLLOW, "", None),
            "unfollow": lambda _: (InboundKind.UNFOLLOW, "", None),
        }
        reader = readers.get(kind)
        if reader is None:
            log.warning("line: unknown event type ignored", extra={"type": kind})
            return None
        if not isinstance(user_id, str) or not user_id:
            log.info("line: event without a user id ignored", extra={"type": kind})
            return None
        in_group = source.get("type") in ("group", "room")
        if in_group and not self._group_may_speak(event):
            return None
        read = reader(event)
        if read is None:
            return None
        inbound_kind, text, payload = read
        return Inbound(
            event_id=event_id(event),
            channel=NAME,
            user_id=user_id,
            kind=inbound_kind,
            text=text,
            payload=payload,
            received_at=_seconds(event.get("timestamp")),
            meta=_meta(event),
        )

    def _group_may_speak(self, event: Event) -> bool:
        if self.settings.group_mode == "ignore":
            log.info("line: group event ignored (LINE_GROUP_MODE=ignore)")
            return False
        if event.get("type") == "postback":
            return True  # a tap on buttons we offered in that group
        if event.get("type") == "message" and _mentions_us(event.get("message") or {}):
            return True
        return False

    def _message(self, event: Event) -> tuple[InboundKind, str, str | None] | None:
        message: dict[str, Any] = event.get("message") or {}
        kind = str(message.get("type", ""))
        message_id = str(message.get("id", ""))
        if kind == "text":
            text = _without_our_mention(message)
            return InboundKind.TEXT, text, None
        if kind == "sticker":
            words = ", ".join(message.get("keywords") or [])
            said = message.get("text") or words
            return InboundKind.MEDIA, f"[sticker] {said}".rstrip(), None
        if kind in ("image", "video", "audio", "file"):
            provider = message.get("contentProvider") or {}
            if provider.get("type") == "external" and provider.get("originalContentUrl"):
                link = str(provider["originalContentUrl"])
            else:
                link = self.content_link(message_id)
            name = ""
            if kind == "file":
                name = f"{message.get('fileName', '')} ({message.get('fileSize', '?')} bytes) "
            return InboundKind.MEDIA, f"[{kind}] {name}{link}", None
        if kind == "location":
            lat, lng = message.get("latitude"), message.get("longitude")
            where = " ".join(str(message.get(k) or "") for k in ("title", "address")).strip()
            maps = f"https://www.google.com/maps?q={lat},{lng}"
            return InboundKind.MEDIA, f"[location] {where} ({lat}, {lng}) {maps}".strip(), None
        return InboundKind.MEDIA, f"[{kind or 'message'}]", None

    def _postback(self, event: Event) -> tuple[InboundKind, str, str | None] | None:
        postback = event.get("postback") or {}
        payload, label = unpack_choice(str(postback.get("data", "")))
        params = postback.get("params") or {}
        text = label or payload
        if params:
            text = f"{text} {json.dumps(params, ensure_ascii=False)}"
        return InboundKind.CHOICE, text, payload


def event_id(event: Event) -> str:
    """LINE's webhookEventId, stable across redeliveries (a digest for events without)."""
    given = event.get("webhookEventId")
    if isinstance(given, str) and given:
        return f"line:{given}"
    digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]
    return f"line:{digest}"


def is_redelivery(event: Event) -> bool:
    """True when LINE says it sent this event before (our answer may not have gone out)."""
    return bool((event.get("deliveryContext") or {}).get("isRedelivery"))


def _seconds(timestamp: object) -> float:
    return float(timestamp) / 1000 if isinstance(timestamp, int | float) else time.time()


def _meta(event: Event) -> dict[str, str]:
    source = event.get("source") or {}
    meta: dict[str, str] = {}
    token = event.get("replyToken")
    if isinstance(token, str) and token:
        meta["reply_token"] = token
        meta["reply_token_at"] = f"{_seconds(event.get('timestamp')):.3f}"
    for field, key in (("groupId", "group_id"), ("roomId", "room_id")):
        if source.get(field):
            meta[key] = str(source[field])
    meta["to"] = str(source.get("groupId") or source.get("roomId") or source.get("userId"))
    if is_redelivery(event):
        meta["redelivery"] = "1"
    return meta


def _mentions_us(message: dict[str, Any]) -> bool:
    mentionees = (message.get("mention") or {}).get("mentionees") or []
    return any(m.get("isSelf") for m in mentionees if isinstance(m, dict))


def _without_our_mention(message: dict[str, Any]) -> str:
    """The text with our own @mention cut out (it is not part of the question)."""
    text = str(message.get("text", ""))
    mentionees = (message.get("mention") or {}).get("mentionees") or []
    ours = sorted(
        (m for m in mentionees if isinstance(m, dict) and m.get("isSelf")),
        key=lambda m: int(m.get("index", 0)),
        reverse=True,
    )
    for m in ours:
        start, length = int(m.get("index", 0)), int(m.get("length", 0))
        text = text[:start] + text[start + length :]
    return " ".join(text.split()) if ours else text

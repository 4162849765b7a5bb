"""What the Slack app listens to, once bolt has verified the request.

- a direct message to the bot: one `Inbound`, put in the inbox before the request is
  acknowledged (so a Redis failure makes Slack retry rather than lose the message);
- a reply in an escalation thread: handed to the desk after the acknowledgement;
- buttons: customers' choices go to the inbox, the desk's Claim/Release/Close to the desk.

Slack redelivers an event it thinks we missed (`X-Slack-Retry-Num`); each event id is
acted on once, so a retry never relays a message twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import StorageUnavailable
from bot.inbox import Inbox
from bot.model import Inbound, InboundKind
from channels.slack.blocks import ACTIONS, SEND_ANSWER
from channels.slack.desk import SlackDesk
from channels.slack.keys import SlackKeys
from channels.slack.sender import CHOICE_PREFIX, META_CHANNEL
from channels.slack.settings import NAME

log = logging.getLogger("tsunagu.slack")

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_MEDIA_SUBTYPES = {"file_share"}


def plain_text(text: str) -> str:
    """Slack's message markup as a customer should read it: links spelled out, unescaped."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#", "!")):
            return "@" + label if label else ("@" + target[1:] if target[0] == "@" else "")
        return f"{label} ({target})" if label and label != target else target

    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def direct_message(body: dict[str, Any]) -> Inbound | None:
    """The `Inbound` of a customer's direct message to the bot; None for anything else."""
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    if event.get("type") != "message" or event.get("channel_type") != "im":
        return None
    subtype = event.get("subtype")
    if event.get("bot_id") or not event.get("user") or (subtype and subtype not in _MEDIA_SUBTYPES):
        return None  # our own messages, edits, deletions, joins...
    text = plain_text(str(event.get("text") or ""))
    kind = InboundKind.TEXT
    if subtype in _MEDIA_SUBTYPES:
        kind = InboundKind.MEDIA
        files = event.get("files")
        files = files if isinstance(files, list) else []
        names = ", ".join(
            str(f.get("name") or "file") if isinstance(f, dict) else "file" for f in files
        )
        text = text or f"[file: {names or 'file'}]"
    message_id = event.get("client_msg_id") or body.get("event_id") or event.get("ts")
    return Inbound(
        event_id=f"slack:{message_id}",
        channel=NAME,
        user_id=str(event["user"]),
        kind=kind,
        text=text,
        meta={META_CHANNEL: str(event.get("channel") or "")},
    )


def register(
    app: AsyncApp,
    *,
    inbox: Inbox,
    desk: SlackDesk,
    redis: Redis,
    key_prefix: str,
    dedupe_ttl_seconds: int,
) -> None:
    """Attach Tsunagu's middleware and listeners to the bolt app."""

    async def once_per_event(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Drop redeliveries; put direct messages in the inbox before the acknowledgement."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not event_id:
            await next()
            return None
        marker = SlackKeys.of(key_prefix).event(event_id)
        inbound = direct_message(body)
        try:
            if inbound is not None:
                # In the inbox first: a direct message is deduplicated by the dispatcher on
                # its event id, so putting it twice is harmless, and losing it is not.
                await inbox.put(inbound)
            fresh = await redis.set(marker, "1", nx=True, ex=dedupe_ttl_seconds)
        except StorageUnavailable as exc:
            log.error("slack: storage unavailable, Slack will retry", extra={"error": str(exc)})
            return BoltResponse(status=503, body="storage unavailable, try again shortly")
        if not fresh:
            log.info("slack redelivery ignored", extra={"event_id": event_id})
            return BoltResponse(status=200, body="")
        await next()
        return None

    app.middleware(once_per_event)

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        """A thread reply in the handoff channel (direct messages went to the inbox)."""
        if event.get("channel_type") == "im" or event.get("subtype") or event.get("bot_id"):
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if not thread_ts or thread_ts == ts or not event.get("user"):
            return
        relayed = await desk.on_thread_message(
            str(thread_ts), str(event["user"]), plain_text(event.get("text") or ""), str(ts)
        )
        log.info("thread message", extra={"relayed": relayed, "thread_ts": thread_ts})

    @app.action(re.compile(f"^({'|'.join(ACTIONS)})$"))
    async def on_desk_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button on an escalation (acknowledged first: acting takes a while)."""
        await ack()
        clicker = _clicker(body, action)
        if clicker is None:
            return
        container = body.get("container") or {}
        message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        # One press is one action however often it is handled: Slack's time of the press.
        press = str(action.get("action_ts") or body.get("trigger_id") or "")
        await desk.on_button(ACTIONS[action["action_id"]], str(message_ts), clicker, press)

    @app.action(re.compile(f"^{re.escape(SEND_ANSWER)}:"))
    async def on_send_answer(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """ "Send this answer" under an FAQ suggestion in an escalation's thread."""
        await ack()
        clicker = _clicker(body, action)
        if clicker is None:
            return
        container = body.get("container") or {}
        message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        press = str(action.get("action_ts") or body.get("trigger_id") or "")
        faq_id = str(action.get("value") or "")
        await desk.on_send_answer(str(message_ts), clicker, faq_id, press)

    @app.action(re.compile(f"^{re.escape(CHOICE_PREFIX)}"))
    async def on_choice(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A customer tapped one of the bot's buttons in a direct message."""
        clicker = _clicker(body, action)
        if clicker is None:
            await ack()
            return
        container = body.get("container") or {}
        message_ts = container.get("message_ts") or ""
        await inbox.put(
            Inbound(
                # Tapping the same button twice is one choice.
                event_id=f"slack:choice:{message_ts}:{action['action_id']}",
                channel=NAME,
                user_id=clicker,
                kind=InboundKind.CHOICE,
                text=(action.get("text") or {}).get("text") or "",
                payload=action.get("value"),
                meta={META_CHANNEL: str((body.get("channel") or {}).get("id") or "")},
            )
        )
        await ack()

    @app.event(re.compile(".*"))
    async def on_other_event(event: dict[str, Any]) -> None:
        """Events we don't use: acknowledged (so Slack doesn't retry) and ignored."""
        log.debug("slack event ignored", extra={"type": event.get("type")})

    @app.action(re.compile(".*"))
    async def on_other_action(ack: AsyncAck) -> None:
        """Buttons we don't know (links, say): acknowledged and ignored."""
        await ack()


def _clicker(body: dict[str, Any], action: dict[str, Any]) -> str | None:
    """The id of the Slack user who clicked; None (with one warning line) when the payload
    names nobody, which Slack never sends: signed, but odd."""
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if isinstance(user_id, str) and user_id:
        return user_id
    log.warning("slack: click without a user ignored", extra={"action": action.get("action_id")})
    return None

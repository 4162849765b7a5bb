"""Replies to Slack customers: direct messages from the bot, choices as buttons."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from bot.model import Outgoing, ReplyKind
from bot.storage import Keys
from channels.slack.errors import classify
from channels.slack.settings import NAME

CHOICE_PREFIX = "tsunagu_choice:"
META_CHANNEL = "slack_channel"  # the DM's channel id, carried in `Inbound.meta`
_BUTTON_TEXT = 75  # Slack's limit for a button's label
_BUTTONS = 25  # and for the elements of one actions block
_TEXT_LIMIT = 3000


def escape(text: str) -> str:
    """Text made safe for Slack mrkdwn (no accidental links or mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(outgoing: Outgoing) -> list[dict[str, Any]]:
    """A reply as Slack blocks: the text, who says it, and one button per choice."""
    reply = outgoing.reply
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(reply.text)[:_TEXT_LIMIT]}}
    ]
    if reply.kind is ReplyKind.AGENT:
        blocks.insert(
            0,
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"*{escape(reply.sender)}* (support)"}],
            },
        )
    if reply.choices:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"choices:{outgoing.message_id}"[:255],
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": choice.label[:_BUTTON_TEXT]},
                        # action ids must be unique within a message
                        "action_id": f"{CHOICE_PREFIX}{index}",
                        "value": choice.payload,
                    }
                    for index, choice in enumerate(reply.choices[:_BUTTONS])
                ],
            }
        )
    return blocks


class SlackSender:
    """`bot.ports.Sender` for customers who write to the bot in Slack."""

    channel = NAME

    def __init__(self, client: AsyncWebClient, redis: Redis, keys: Keys, *, ttl_seconds: int):
        self._client = client
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds

    async def send(self, batch: list[Outgoing]) -> None:
        """Post each reply once, whatever the number of attempts; a failure is raised as a
        `bot.errors` type (`PlatformUnavailable`, `RetryAfter`, `PermanentFailure`)."""
        for outgoing in batch:
            key = self._keys.sent(f"{NAME}:{outgoing.user_id}", outgoing.message_id)
            if not await self._redis.set(key, "1", nx=True, ex=self._ttl):
                continue
            try:
                await self._client.chat_postMessage(
                    # A user id works too: it posts in the bot's direct messages with them.
                    channel=outgoing.meta.get(META_CHANNEL) or outgoing.user_id,
                    text=outgoing.reply.text,
                    blocks=render(outgoing),
                    unfurl_links=False,
                )
            except BaseException as exc:
                await self._redis.delete(key)  # not sent: let the retry send it
                typed = classify(exc) if isinstance(exc, Exception) else None
                if typed is not None:
                    raise typed from exc
                raise

"""The channel-neutral message model every adapter speaks.

Adapters turn platform events into one `Inbound` each and render `Reply` objects back
into their platform's own form; the dispatcher sees nothing else.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

# Where a customer talks to us: the name of a registered channel (`channels.registry`).
# The core never lists the channels; it only checks that a name looks like one.
ChannelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class InboundKind(StrEnum):
    """What a customer did, independent of the platform."""

    TEXT = "text"  # a typed message
    CHOICE = "choice"  # a tap on a button we offered (postback); `payload` holds its data
    MEDIA = "media"  # an image, sticker, file, location...: `text` describes it
    FOLLOW = "follow"  # the customer added us / opened the chat
    UNFOLLOW = "unfollow"  # the customer blocked us / left: stop sending
    TIMER = "timer"  # a timer fired (`payload` names it); not from the customer
    AGENT = "agent"  # an agent acted (`payload` names the action); not from the customer


class Inbound(BaseModel):
    """One thing a customer did, normalised by a channel adapter."""

    event_id: str = Field(description="Unique per platform event; replays carry the same id.")
    channel: ChannelName
    user_id: str = Field(description="The customer's id on that channel.")
    kind: InboundKind = InboundKind.TEXT
    text: str = ""
    payload: str | None = Field(default=None, description="Choice data for kind=choice.")
    locale: str | None = Field(default=None, description="BCP 47 language, e.g. 'ja' or 'en'.")
    display_name: str | None = None
    origin: str | None = Field(
        default=None, description="The client address of a web request, for per-address caps."
    )
    received_at: float = Field(default_factory=time.time)
    # Platform details the outbound side needs later (a LINE reply token, a Slack thread).
    meta: dict[str, str] = Field(default_factory=dict)
    customer: str | None = Field(
        default=None,
        description="The customer's profile key when this identity is linked to others.",
    )

    @property
    def customer_key(self) -> str:
        """`channel:user_id`: this identity of the customer."""
        return f"{self.channel}:{self.user_id}"

    @property
    def conversation_key(self) -> str:
        """Where the customer's conversation is kept: the profile key of a linked
        customer, else `customer_key`."""
        return self.customer or self.customer_key


class ReplyKind(StrEnum):
    """Why we are saying something; adapters may render kinds differently."""

    ANSWER = "answer"  # an FAQ answer
    SUGGEST = "suggest"  # "did you mean…?" with choices
    FALLBACK = "fallback"  # nothing fits: say so, offer a human
    NOTICE = "notice"  # handoff and state notices
    GREETING = "greeting"
    SURVEY = "survey"  # the CES question
    AGENT = "agent"  # a human agent's words


class Choice(BaseModel):
    """A button the customer can tap; `payload` comes back as an `InboundKind.CHOICE`."""

    label: str
    payload: str


class Reply(BaseModel):
    """One message to a customer, before a channel renders it."""

    text: str
    kind: ReplyKind = ReplyKind.ANSWER
    choices: list[Choice] = Field(default_factory=list)
    sender: str = Field(default="bot", description="'bot' or the agent's display name.")
    faq_id: str | None = Field(
        default=None, description="The FAQ entry an answer comes from (links to the help center)."
    )


class Outgoing(BaseModel):
    """A reply addressed to a customer, with a stable id so delivery can be retried safely."""

    message_id: str = Field(description="Deterministic: a redelivery reuses the same id.")
    channel: ChannelName
    user_id: str
    conversation_id: str
    reply: Reply
    created_at: float = Field(default_factory=time.time)
    # Copied from the triggering `Inbound.meta` (a LINE reply token, for instance).
    meta: dict[str, str] = Field(default_factory=dict)

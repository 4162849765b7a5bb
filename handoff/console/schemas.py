"""Request and response bodies of the agent console API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from bot.conversation import ConversationState, TranscriptEntry

CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# `channel:user_id`; Slack ids may carry a team prefix, hence the extra colon.
CUSTOMER_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,31}:[A-Za-z0-9_.:-]{1,128}$"  # channel:user


class ChannelLabel(BaseModel):
    """A channel's name as people see it."""

    ja: str
    en: str


class Me(BaseModel):
    """Who the bearer token (and, for the admin token, the typed name) says the agent is."""

    id: str | None = Field(
        description="The stable identity every action is checked against: "
        "`console:<token name>` or `admin:<typed name>` (None until a name is typed)."
    )
    name: str | None = Field(description="None until an admin-token user has typed a name.")
    via: Literal["agent_token", "admin_token"]
    channels: dict[str, ChannelLabel] = Field(
        default_factory=dict,
        description="How each channel is named, by channel name (from the channel registry).",
    )


class WaitingCustomer(BaseModel):
    """One customer in the handoff queue."""

    customer_key: str
    position: int = Field(description="1 for the next customer to be served.")
    channel: str
    display_name: str | None
    waiting_since: float | None = Field(description="Unix time the customer asked for a person.")
    last_message: str | None = Field(description="The customer's latest words.")
    last_message_at: float | None


class ActiveConversation(BaseModel):
    """A conversation an agent has claimed."""

    customer_key: str
    channel: str
    display_name: str | None
    agent: str | None = Field(description="The holder's name.")
    agent_id: str | None = Field(description="The holder's id.")
    claimed_at: float | None
    last_message: str | None
    last_message_at: float | None


class QueueView(BaseModel):
    """The queue in serving order, and the conversations agents hold."""

    waiting: list[WaitingCustomer]
    with_agents: list[ActiveConversation]


class ConversationView(BaseModel):
    """Everything an agent needs to handle one customer."""

    customer_key: str
    conversation_id: str
    channel: str
    display_name: str | None
    locale: str | None
    state: ConversationState
    agent: str | None = Field(description="The holder's name (or last holder's, once over).")
    agent_id: str | None = Field(description="The holder's id.")
    position: int | None
    queued_at: float | None
    claimed_at: float | None
    started_at: float
    transcript: list[TranscriptEntry]
    history: list[dict[str, object]] = Field(
        description="Summaries of the customer's earlier conversations on every linked "
        "channel (`channel` says which), newest first."
    )
    identities: dict[str, str] = Field(
        default_factory=dict,
        description="The customer's identity on each linked channel (channel → key).",
    )
    vip: bool = False


class AgentReply(BaseModel):
    """Body of a reply: the text, and a random `client_id` that makes retries safe."""

    text: str = Field(min_length=1, max_length=4000)
    client_id: str = Field(pattern=CLIENT_ID_PATTERN, description="Random per message.")
    channel: str | None = Field(
        default=None,
        max_length=20,
        description="One of the customer's linked channels to send on (`line`, `web`…; "
        "a key of `identities`); default: the channel the customer last wrote on.",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("'text' is blank")
        return text


class ActionDone(BaseModel):
    """An action succeeded; the conversation's state and holder afterwards."""

    ok: Literal[True] = True
    state: ConversationState
    agent: str | None = Field(default=None, description="The holder's name afterwards.")
    agent_id: str | None = Field(default=None, description="The holder's id afterwards.")
    action_id: str = Field(description="Retry with this id (`Idempotency-Key`) to be safe.")
    message_id: str | None = Field(default=None, description="For a reply: its message id.")
    duplicate: bool = Field(
        default=False, description="This id was done before (by you): nothing happened again."
    )


class ActionRefused(BaseModel):
    """An action lost (409): why, and who holds the conversation now."""

    detail: str = Field(examples=["already taken by Sato"])
    state: ConversationState
    agent: str | None = Field(default=None, description="The holder's name.")
    agent_id: str | None = Field(default=None, description="The holder's id.")

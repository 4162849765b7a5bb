"""Request and response bodies of the web API."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator, model_validator

from channels.web.outbox import WebMessage

CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# Control characters (C0, DEL, C1) other than tab, line feed and carriage return. Nobody
# types them; they come with pasted text (a NUL, a vertical tab from a word processor) and
# would travel on to agents, desks and CSV exports.
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def without_controls(text: str) -> str:
    """`text` without control characters other than tab, line feed and carriage return.

    Removed rather than refused: the customer meant the rest of what they typed, and a
    refusal would make them retype a message whose fault they cannot see.
    """
    return CONTROLS.sub("", text)


class StartConversation(BaseModel):
    """Body of `POST /web/conversations` (all optional)."""

    locale: str | None = Field(default=None, max_length=35, examples=["ja"])
    name: str | None = Field(default=None, max_length=80)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return without_controls(value).strip() or None


class ConversationStarted(BaseModel):
    """The bearer token that names this web customer from now on."""

    token: str
    user_id: str
    expires_in: int


class SendMessage(BaseModel):
    """Body of `POST /web/messages`: typed `text`, or a tapped `choice`."""

    text: str | None = Field(default=None, min_length=1, max_length=4000)
    choice: str | None = Field(default=None, min_length=1, max_length=300)
    label: str | None = Field(default=None, max_length=300)
    client_id: str = Field(pattern=CLIENT_ID_PATTERN, description="Random per message.")

    @field_validator("text", "label")
    @classmethod
    def _without_controls(cls, value: str | None) -> str | None:
        return None if value is None else without_controls(value)

    @model_validator(mode="after")
    def _text_or_choice(self) -> SendMessage:
        if (self.text is None) == (self.choice is None):
            raise ValueError("send exactly one of 'text' or 'choice'")
        if self.text is not None and not self.text.strip():
            raise ValueError("'text' is blank")
        return self


class Accepted(BaseModel):
    """The message is stored and will be handled."""

    accepted: bool = True


class MessagePage(BaseModel):
    """Messages after a cursor, and the cursor to ask from next."""

    messages: list[WebMessage]
    cursor: str | None

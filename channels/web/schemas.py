"""Request and response bodies of the web API."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from channels.web.outbox import WebMessage

CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class StartConversation(BaseModel):
    """Body of `POST /web/conversations` (all optional)."""

    locale: str | None = Field(default=None, max_length=35, examples=["ja"])
    name: str | None = Field(default=None, max_length=80)


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

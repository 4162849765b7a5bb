"""Collects what one step decides: replies, transcript lines, effects."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Literal

from bot.conversation import (
    Conversation,
    ConversationState,
    DeskEvent,
    DeskEventKind,
    Effects,
    Step,
    Timer,
    TimerKind,
    TranscriptEntry,
)
from bot.model import Choice, Inbound, Outgoing, Reply, ReplyKind
from bot.texts import Texts


@dataclass
class StepBuilder:
    """The step being decided for one event, with the helpers every handler uses."""

    conversation: Conversation
    inbound: Inbound
    language: str
    texts: Texts
    now: float = field(default_factory=time.time)
    step: Step = field(init=False)

    def __post_init__(self) -> None:
        self.step = Step(conversation=self.conversation)

    @property
    def effects(self) -> Effects:
        """The effects of the step (shorthand)."""
        return self.step.effects

    def reply(
        self,
        reply: Reply,
        faq_ids: list[str] | None = None,
        *,
        sender: Literal["bot", "agent"] = "bot",
        sender_name: str | None = None,
        to: tuple[str, str] | None = None,
    ) -> None:
        """Send `reply` to the customer (with a message id stable across replays): on the
        channel they last wrote on, or `to` (another of their linked channels, and user)."""
        index = len(self.step.effects.outgoing)
        seed = f"{self.inbound.event_id}#{index}"
        channel, user_id = to or (self.conversation.channel, self.conversation.user_id)
        self.step.effects.outgoing.append(
            Outgoing(
                message_id=hashlib.sha256(seed.encode()).hexdigest()[:32],
                channel=channel,
                user_id=user_id,
                conversation_id=self.conversation.id,
                reply=reply,
                meta=self.inbound.meta,
            )
        )
        self.step.transcript.append(
            TranscriptEntry(
                time=self.now,
                sender=sender,
                sender_name=sender_name,
                text=reply.text,
                kind=reply.kind.value,
                faq_ids=faq_ids or [],
                # Sent elsewhere than where the customer last wrote: the line says where.
                channel=channel if to is not None else None,
            )
        )

    def note(self, text: str) -> None:
        """Add a line to the transcript that only agents read (a takeover, say)."""
        self.step.transcript.append(
            TranscriptEntry(time=self.now, sender="system", text=text, kind="notice")
        )

    def say(
        self,
        text_name: str,
        kind: ReplyKind,
        choices: list[Choice] | None = None,
        faq_ids: list[str] | None = None,
        **values: object,
    ) -> None:
        """Send one of the bot's configured texts."""
        text = self.texts.get(text_name, self.language, **values)
        self.reply(Reply(text=text, kind=kind, choices=choices or []), faq_ids)

    def text(self, name: str, **values: object) -> str:
        """One of the bot's texts in the customer's language."""
        return self.texts.get(name, self.language, **values)

    def desk(self, kind: DeskEventKind, text: str = "", *, agent_id: str | None = None) -> None:
        """Tell the agents' desks (`agent_id`: the agent whose action it is)."""
        self.step.effects.desk_events.append(
            DeskEvent(
                kind=kind,
                customer_key=self.conversation.customer_key,
                conversation_id=self.conversation.id,
                text=text,
                agent_id=agent_id,
                time=self.now,
            )
        )

    def arm(self, kind: TimerKind, after_seconds: float) -> None:
        """Fire a timer event for this conversation after `after_seconds`."""
        self.step.effects.timers.append(Timer(kind=kind, due_at=self.now + after_seconds))

    def close(self) -> None:
        """End the conversation and record it for the reports."""
        self.conversation.state = ConversationState.CLOSED
        self.conversation.updated_at = self.now
        self.step.effects.conversation_record = self.conversation.to_record(self.now)

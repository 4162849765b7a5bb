"""Slack events read into `Inbound`s, replies rendered as blocks, and the desk's blocks.

Pure: plain functions of their input, no Slack and no Redis.
"""

from __future__ import annotations

from typing import Any

from bot.actor import Actor
from bot.conversation import Conversation, ConversationState, DeskEvent
from bot.model import Choice, InboundKind, Outgoing, Reply, ReplyKind
from channels.slack.blocks import CLAIM, CLOSE, RELEASE, TAKEOVER, escape, note, status_blocks
from channels.slack.events import direct_message
from channels.slack.sender import render


def dm(**event: Any) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "event_id": "Ev1",
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U1",
            "text": "送料は？",
            "client_msg_id": "c1",
            **event,
        },
    }


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_direct_message_is_a_text_inbound() -> None:
    inbound = direct_message(dm())
    assert inbound is not None
    assert (inbound.channel, inbound.user_id, inbound.kind, inbound.text) == (
        "slack",
        "U1",
        InboundKind.TEXT,
        "送料は？",
    )
    assert inbound.event_id == "slack:c1" and inbound.meta


def test_our_own_messages_edits_and_channel_messages_are_not_customers() -> None:
    assert direct_message(dm(bot_id="B1")) is None
    assert direct_message(dm(subtype="message_changed")) is None
    assert direct_message(dm(channel_type="channel")) is None
    assert direct_message({"type": "event_callback", "event": "not an object"}) is None


def test_a_file_is_media_named_by_its_files() -> None:
    inbound = direct_message(dm(subtype="file_share", text="", files=[{"name": "receipt.pdf"}]))
    assert inbound is not None and inbound.kind is InboundKind.MEDIA
    assert "receipt.pdf" in inbound.text


def test_a_reply_renders_with_its_choices_as_buttons_and_an_agent_named() -> None:
    reply = Reply(
        text="<b>&",
        kind=ReplyKind.AGENT,
        sender="Sato",
        choices=[Choice(label="はい", payload="helpful:yes")],
    )
    blocks = render(
        Outgoing(message_id="m1", channel="slack", user_id="U1", conversation_id="c", reply=reply)
    )
    assert blocks[0]["type"] == "context" and "Sato" in blocks[0]["elements"][0]["text"]
    assert blocks[1]["text"]["text"] == escape("<b>&") == "&lt;b&gt;&amp;"
    assert [e["value"] for e in blocks[-1]["elements"]] == ["helpful:yes"]


def test_the_desk_offers_the_buttons_that_fit_the_state() -> None:
    conversation = Conversation(channel="line", user_id="U2", state=ConversationState.QUEUED)
    assert buttons(status_blocks(conversation.id, conversation)) == [CLAIM]
    conversation.state = ConversationState.WITH_AGENT
    conversation.assign(Actor.slack("U9", "Sato"))
    held = status_blocks(conversation.id, conversation)
    assert buttons(held) == [RELEASE, CLOSE, TAKEOVER]
    assert "<@U9>" in held[0]["text"]["text"], "the holder is named exactly"
    assert buttons(status_blocks("an older conversation", conversation)) == []


def test_thread_notes_escape_what_customers_wrote() -> None:
    text = note(
        DeskEvent(kind="low_score", customer_key="web:U3", conversation_id="c", text="<!here> 2/7")
    )
    assert "<!here>" not in text and "&lt;!here&gt;" in text

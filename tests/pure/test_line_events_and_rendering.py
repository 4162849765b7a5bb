"""LINE webhook events read into `Inbound`s, and `Reply`s rendered as LINE messages.

Pure: the reader and the renderer are plain functions of their input.
"""

from __future__ import annotations

from typing import Any

from bot.choice_data import unpack_choice
from bot.model import Choice, InboundKind, Reply
from channels.line.events import EventReader
from channels.line.render import (
    MAX_LABEL,
    MAX_QUICK_REPLIES,
    MAX_TEXT,
    postback_data,
    render,
)
from channels.line.settings import LineSettings

READER = EventReader(LineSettings(_env_file=None, channel_secret="s", channel_access_token="t"))  # type: ignore[call-arg]


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "webhookEventId": f"01H{kind.upper()}",
        "timestamp": 1_780_448_400_000,
        "source": {"type": "user", "userId": "U1"},
        "replyToken": "rt",
        "deliveryContext": {"isRedelivery": False},
        "mode": "active",
        **fields,
    }


def test_a_text_message_becomes_a_text_inbound_with_its_reply_token() -> None:
    inbound = READER.read(
        event("message", message={"type": "text", "id": "m1", "text": "送料は？"})
    )
    assert inbound is not None
    assert (inbound.channel, inbound.user_id, inbound.kind, inbound.text) == (
        "line",
        "U1",
        InboundKind.TEXT,
        "送料は？",
    )
    assert inbound.event_id == "line:01HMESSAGE" and inbound.meta["reply_token"] == "rt"
    assert inbound.received_at == 1_780_448_400.0


def test_a_postback_we_wrote_gives_back_its_payload() -> None:
    data = postback_data(Choice(label="送料について", payload="faq:shipping-fee"))
    inbound = READER.read(event("postback", postback={"data": data}))
    assert inbound is not None and inbound.kind is InboundKind.CHOICE
    assert inbound.payload == "faq:shipping-fee"


def test_an_image_is_media_with_a_signed_link_for_agents() -> None:
    inbound = READER.read(event("message", message={"type": "image", "id": "m2"}))
    assert inbound is not None and inbound.kind is InboundKind.MEDIA
    assert "/line/content/m2?sig=" in inbound.text


def test_what_is_not_a_customer_speaking_is_ignored() -> None:
    assert READER.read(event("unsend", unsend={"messageId": "m1"})) is None
    assert READER.read(event("something-new")) is None
    assert READER.read(event("message", source="not an object")) is None
    group = event("message", message={"type": "text", "id": "m3", "text": "hi"})
    group["source"] = {"type": "group", "groupId": "G1", "userId": "U1"}
    assert READER.read(group) is None, "groups are ignored by default"


def test_a_long_reply_is_split_and_the_choices_ride_on_the_last_message() -> None:
    choices = [
        Choice(label=f"とても長い選択肢のラベル その{n}", payload=f"p{n}") for n in range(20)
    ]
    messages = render(Reply(text="あ" * (MAX_TEXT + 10), choices=choices))
    assert len(messages) == 2 and all(len(m.text) <= MAX_TEXT for m in messages)
    assert messages[0].quick_reply is None
    quick = messages[-1].quick_reply
    assert quick is not None and len(quick.items) == MAX_QUICK_REPLIES
    assert all(len(item.action.label) <= MAX_LABEL for item in quick.items)


def test_postback_data_round_trips_and_foreign_data_is_its_own_payload() -> None:
    choice = Choice(label="はい", payload="helpful:yes")
    assert unpack_choice(postback_data(choice)) == ("helpful:yes", "はい")
    assert unpack_choice("richmenu:faq") == ("richmenu:faq", None)

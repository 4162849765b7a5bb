"""Messenger and Instagram webhooks read into events, and their signatures: pure, no
server, no Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.model import Choice, InboundKind
from channels.messenger.events import MalformedWebhook, read_webhook
from channels.messenger.render import choice_payload
from channels.messenger.settings import MessengerSettings
from channels.messenger.surface import INSTAGRAM, MESSENGER
from channels.messenger.webhook import handshake_ok, sign, signature_ok

PAGE = "1000000000000001"
USER = "24000000000000001"


def body(*items: dict[str, Any], obj: str = "page") -> dict[str, Any]:
    return {
        "object": obj,
        "entry": [{"id": PAGE, "time": 1_760_000_000_000, "messaging": list(items)}],
    }


def item(**fields: Any) -> dict[str, Any]:
    return {
        "sender": {"id": USER},
        "recipient": {"id": PAGE},
        "timestamp": 1_760_000_000_123,
        **fields,
    }


def test_a_typed_message_is_text_with_its_mid_as_event_id() -> None:
    [event] = read_webhook(body(item(message={"mid": "m_1", "text": "送料は？"})), MESSENGER)
    assert event.event_id == "messenger:m_1"
    assert (event.user_id, event.account_id) == (USER, PAGE)
    assert (event.kind, event.text, event.payload) == (InboundKind.TEXT, "送料は？", None)
    assert event.sent_at == pytest.approx(1_760_000_000.123)


def test_a_quick_reply_tap_is_a_choice_with_the_whole_label() -> None:
    label = "送料・配送について詳しく知りたい"
    payload = choice_payload(Choice(label=label, payload="faq:shipping-fee"))
    tap = {"mid": "m_2", "text": label[:19] + "…", "quick_reply": {"payload": payload}}
    [event] = read_webhook(body(item(message=tap)), MESSENGER)
    assert (event.kind, event.payload, event.text) == (
        InboundKind.CHOICE,
        "faq:shipping-fee",
        label,
    )


def test_a_postback_is_a_choice_titled_as_its_button() -> None:
    postback = {"mid": "m_3", "title": "送料について", "payload": "faq:shipping-fee"}
    [event] = read_webhook(body(item(postback=postback)), MESSENGER)
    assert (event.event_id, event.kind) == ("messenger:m_3", InboundKind.CHOICE)
    assert (event.payload, event.text) == ("faq:shipping-fee", "送料について")


def test_the_get_started_button_is_a_follow() -> None:
    postback = {"mid": "m_10", "title": "Get Started", "payload": "GET_STARTED"}
    [event] = read_webhook(body(item(postback=postback)), MESSENGER)
    assert (event.kind, event.payload) == (InboundKind.FOLLOW, None)


def test_attachments_are_links_for_the_agents() -> None:
    attachments = [
        {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}},
        {"type": "file", "payload": {"url": "https://cdn.example/b.pdf"}},
        {"type": "location", "payload": {"coordinates": {"lat": 35.6586, "long": 139.7454}}},
        {"type": "image", "payload": {"url": "https://cdn.example/s.png", "sticker_id": 369}},
    ]
    [event] = read_webhook(
        body(item(message={"mid": "m_4", "attachments": attachments})), MESSENGER
    )
    assert event.kind is InboundKind.MEDIA
    assert event.text.splitlines() == [
        "[image] https://cdn.example/a.jpg",
        "[file] https://cdn.example/b.pdf",
        "[location] (35.6586, 139.7454) https://www.google.com/maps?q=35.6586,139.7454",
        "[sticker] https://cdn.example/s.png",
    ]


def test_a_typed_link_stays_text_without_its_preview() -> None:
    message = {
        "mid": "m_5",
        "text": "これ在庫ありますか https://shop.example/item/1",
        "attachments": [{"type": "fallback", "payload": {"url": "https://shop.example/item/1"}}],
    }
    [event] = read_webhook(body(item(message=message)), MESSENGER)
    assert (event.kind, event.text) == (InboundKind.TEXT, message["text"])


def test_an_instagram_story_reply_links_the_story() -> None:
    message = {
        "mid": "aWdf",
        "text": "素敵！",
        "reply_to": {"story": {"id": "1", "url": "https://x/s"}},
    }
    [event] = read_webhook(body(item(message=message), obj="instagram"), INSTAGRAM)
    assert event.event_id == "instagram:aWdf"
    assert event.text == "素敵！\n[story reply] https://x/s"


def test_echoes_reads_deliveries_reactions_and_unsent_messages_are_ignored() -> None:
    ignored = [
        item(message={"mid": "m_6", "text": "ours", "is_echo": True, "app_id": 1}),
        item(read={"watermark": 1}),
        item(delivery={"mids": ["m_6"], "watermark": 1}),
        item(reaction={"mid": "m_6", "action": "react", "reaction": "love"}),
        item(message={"mid": "m_7", "is_deleted": True}),
        item(referral={"ref": "ad"}),
        item(something_new={"x": 1}),
        {"sender": {"id": PAGE}, "recipient": {"id": USER}, "message": {"mid": "m_8", "text": "x"}},
    ]
    assert read_webhook(body(*ignored), MESSENGER) == []


def test_an_unsupported_message_is_still_shown_to_the_agents() -> None:
    [event] = read_webhook(
        body(item(message={"mid": "m_9", "is_unsupported": True}), obj="instagram"), INSTAGRAM
    )
    assert (event.kind, event.text) == (InboundKind.MEDIA, "[unsupported message]")


def test_another_object_is_ignored_and_a_body_of_the_wrong_shape_is_malformed() -> None:
    assert (
        read_webhook(body(item(message={"mid": "m", "text": "x"}), obj="instagram"), MESSENGER)
        == []
    )
    assert read_webhook({"object": "page"}, MESSENGER) == []
    for bad in ([], "x", {"object": "page", "entry": {}}):
        with pytest.raises(MalformedWebhook):
            read_webhook(bad, MESSENGER)


@pytest.mark.parametrize(
    "shape",
    [
        {"message": "text"},
        {"message": {"mid": 5, "quick_reply": "x"}},
        {"postback": None},
        {"sender": None, "message": {"mid": "m", "text": "x"}},
        {"sender": {"id": {"x": 1}}, "message": {"mid": "m", "text": "x"}},
        {"message": {"mid": "m", "attachments": [None, {"type": None, "payload": []}]}},
        {"timestamp": "soon", "message": {"mid": "m", "text": "x"}},
    ],
)
def test_odd_shapes_from_someone_with_the_secret_never_raise(shape: dict[str, Any]) -> None:
    events = read_webhook(body({**item(), **shape}), MESSENGER)
    assert all(e.user_id and e.event_id.startswith("messenger:") for e in events)


def test_an_item_without_a_mid_gets_an_id_stable_across_redeliveries() -> None:
    once = read_webhook(body(item(postback={"payload": "P"})), MESSENGER)
    again = read_webhook(json.loads(json.dumps(body(item(postback={"payload": "P"})))), MESSENGER)
    assert once[0].event_id == again[0].event_id


def test_the_signature_is_the_hex_hmac_of_the_raw_body() -> None:
    raw = json.dumps(body(item(message={"mid": "m", "text": "こんにちは"}))).encode()
    assert b"\\u3053" in raw  # Meta signs the body with non-ASCII escaped, as it sends it
    header = sign("secret", raw)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_ok("secret", raw, header)
    assert signature_ok("secret", raw, header.upper().replace("SHA256=", "sha256="))
    assert not signature_ok("secret", raw + b" ", header)
    assert not signature_ok("other", raw, header)
    assert not signature_ok("secret", raw, "")
    assert not signature_ok("secret", raw, header.removeprefix("sha256="))
    assert not signature_ok("", raw, sign("", raw))


def test_the_handshake_needs_subscribe_and_our_verify_token() -> None:
    account = MessengerSettings(
        _env_file=None,
        page_access_token="t",
        app_secret="s",
        verify_token="v",  # type: ignore[call-arg]
    ).account()
    assert handshake_ok(account, "subscribe", "v")
    assert not handshake_ok(account, "subscribe", "w")
    assert not handshake_ok(account, "unsubscribe", "v")
    assert not handshake_ok(account, None, None)
    unset = MessengerSettings(_env_file=None).account()  # type: ignore[call-arg]
    assert not handshake_ok(unset, "subscribe", "")

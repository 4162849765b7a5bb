"""Messenger's and Instagram's rules as pure functions: rendering within Meta's limits, the
messaging window, what a refusal means. No server, no Redis."""

from __future__ import annotations

import pytest

from bot.choice_data import unpack_choice
from bot.model import Choice, Reply
from channels.messenger.client import GraphError
from channels.messenger.failures import Verdict, judge
from channels.messenger.render import (
    MAX_PAYLOAD,
    choice_payload,
    render,
    split_text,
)
from channels.messenger.surface import INSTAGRAM, MESSENGER, utf8_bytes
from channels.messenger.window import HUMAN_AGENT, RESPONSE, Closed, send_as

HOUR = 3600.0
NOW = 1_800_000_000.0


def test_a_short_reply_is_one_message_with_its_choices_as_quick_replies() -> None:
    reply = Reply(text="解決しましたか？", choices=[Choice(label="はい", payload="yes")])
    [message] = render(reply, MESSENGER)
    assert message["text"] == "解決しましたか？"
    [button] = message["quick_replies"]
    assert button["content_type"] == "text" and button["title"] == "はい"
    assert unpack_choice(button["payload"]) == ("yes", "はい")


def test_at_most_13_quick_replies_with_titles_of_20_characters() -> None:
    choices = [
        Choice(label=f"選択肢その{n}・とても長いラベルのボタンです", payload=f"p{n}")
        for n in range(20)
    ]
    [message] = render(Reply(text="どれ？", choices=choices), MESSENGER)
    buttons = message["quick_replies"]
    assert len(buttons) == 13
    assert all(len(b["title"]) <= 20 and b["title"].endswith("…") for b in buttons)
    assert [unpack_choice(b["payload"])[0] for b in buttons] == [f"p{n}" for n in range(13)]


def test_a_long_label_is_cut_in_the_payload_to_fit_1000_characters() -> None:
    payload = choice_payload(Choice(label="あ" * 2000, payload="faq:x"))
    assert len(payload) <= MAX_PAYLOAD
    assert unpack_choice(payload)[0] == "faq:x"


def test_a_payload_we_did_not_write_is_the_payload_itself() -> None:
    assert unpack_choice("GET_STARTED") == ("GET_STARTED", None)
    assert unpack_choice('{"p": broken') == ('{"p": broken', None)


def test_a_long_messenger_text_is_split_at_paragraphs_within_2000_characters() -> None:
    paragraphs = ["段落" + str(n) + "。" + "あ" * 600 for n in range(6)]
    messages = render(
        Reply(text="\n\n".join(paragraphs), choices=[Choice(label="OK", payload="ok")]), MESSENGER
    )
    assert len(messages) > 1
    assert all(len(m["text"]) <= 2000 for m in messages)
    assert "".join(m["text"] for m in messages).replace("\n", "") == "".join(paragraphs)
    assert all(m["text"].startswith("段落") for m in messages)  # cut between paragraphs
    assert "quick_replies" in messages[-1] and all("quick_replies" not in m for m in messages[:-1])


def test_an_instagram_text_is_counted_in_utf8_bytes() -> None:
    text = "お問い合わせありがとうございます。" * 40  # 680 characters, 2,040 bytes
    messages = render(Reply(text=text), INSTAGRAM)
    assert len(messages) == 3
    assert all(utf8_bytes(m["text"]) <= 1000 for m in messages)
    assert "".join(m["text"] for m in messages) == text


def test_one_sentence_longer_than_the_limit_is_cut_mid_text() -> None:
    parts = split_text("x" * 4500, 2000)
    assert [len(p) for p in parts] == [2000, 2000, 500]


def test_choices_without_text_still_make_a_message() -> None:
    [message] = render(Reply(text="", choices=[Choice(label="1", payload="1")]), MESSENGER)
    assert message["text"] == "…" and message["quick_replies"]
    assert render(Reply(text="  "), MESSENGER) == []


@pytest.mark.parametrize(
    ("hours_ago", "from_agent", "expected"),
    [
        (0, False, RESPONSE),
        (23.99, False, RESPONSE),
        (23.99, True, RESPONSE),
        (24, True, HUMAN_AGENT),
        (24 * 7 - 0.01, True, HUMAN_AGENT),
    ],
)
def test_the_window_says_how_a_message_goes(
    hours_ago: float, from_agent: bool, expected: object
) -> None:
    assert send_as(NOW - hours_ago * HOUR, NOW, from_agent=from_agent) == expected


@pytest.mark.parametrize(
    ("hours_ago", "from_agent", "says"),
    [
        (24, False, "only an agent's reply"),
        (24 * 7, True, "7 days"),
        (24 * 30, True, "30 days ago"),
        (None, True, "has not written"),
    ],
)
def test_the_window_closed_says_why(hours_ago: float | None, from_agent: bool, says: str) -> None:
    last = None if hours_ago is None else NOW - hours_ago * HOUR
    closed = send_as(last, NOW, from_agent=from_agent)
    assert isinstance(closed, Closed) and says in closed.reason


def test_a_last_message_in_the_future_counts_as_just_now() -> None:
    assert send_as(NOW + 60, NOW, from_agent=False) == RESPONSE


@pytest.mark.parametrize(
    ("status", "code", "subcode", "verdict"),
    [
        (500, None, None, Verdict.RETRY),
        (503, 2, None, Verdict.RETRY),
        (400, 1200, None, Verdict.RETRY),
        (429, None, None, Verdict.SLOW_DOWN),
        (400, 613, None, Verdict.SLOW_DOWN),
        (400, 4, None, Verdict.SLOW_DOWN),
        (400, 190, None, Verdict.NEVER),
        (401, None, None, Verdict.NEVER),
        (400, 551, None, Verdict.NEVER),
        (400, 10, 2018278, Verdict.NEVER),
        (400, 100, None, Verdict.NEVER),
    ],
)
def test_what_a_refusal_means(
    status: int, code: int | None, subcode: int | None, verdict: Verdict
) -> None:
    assert judge(GraphError(status, code, subcode, "m")).verdict is verdict


def test_a_refusal_says_why_in_words() -> None:
    assert "access token" in judge(GraphError(400, 190, None, "Invalid OAuth")).reason
    assert "window" in judge(GraphError(400, 10, 2018278, "outside")).reason
    assert judge(GraphError(429, None, None, "slow", retry_after=30)).retry_after == 30

"""Control characters (a NUL, an escape, a vertical tab) in what a web customer sends.

Nobody types them: they come with pasted text. They are dropped from web messages and names
(the rest is what the customer meant), and every CSV export drops them whatever their
source, so no NUL ends a cell early or hides a formula's `=` behind it.
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from pydantic import ValidationError

from bot.reports.render import csv_text
from channels.web.schemas import SendMessage, StartConversation
from tests.conftest import RunningApp
from tests.webclient import WebCustomer

ODD = "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\x9f"


async def test_a_web_message_with_a_nul_arrives_without_it(app: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
        customer = await WebCustomer.start(http)
        await customer.next_from("bot")
        sent = await customer.say("送料は\x00いくら\x1bですか？\n\t沖縄も")
        assert sent.status_code == 202, sent.text
        echo = await customer.next_from("customer")
        assert echo["text"] == "送料はいくらですか？\n\t沖縄も"
        answer = await customer.next_from("bot")
        assert answer["kind"] == "answer"  # the question was read without the NUL


async def test_a_message_of_control_characters_only_is_a_clear_error(app: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
        customer = await WebCustomer.start(http)
        await customer.next_from("bot")
        refused = await customer.say(ODD)
        assert 400 <= refused.status_code < 500 and refused.status_code != 404
        assert "blank" in refused.text


def test_names_and_labels_lose_their_control_characters() -> None:
    assert StartConversation(name="Ta\x00naka\x1b").name == "Tanaka"
    assert StartConversation(name=ODD).name is None
    message = SendMessage(choice="faq:x", label="送料\x00", client_id="c1")
    assert message.label == "送料"
    with pytest.raises(ValidationError, match="blank"):
        SendMessage(text=ODD + " ", client_id="c2")


def test_csv_exports_drop_control_characters_and_still_catch_formulas() -> None:
    text = csv_text(
        ["name", "comment"],
        [["Ta\x00naka", '\x00=HYPERLINK("http://x")'], ["a\x1bb\x85", "line\r\nbreak\ttab"]],
    )
    assert not any(ch in text for ch in ODD)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["Tanaka", '\'=HYPERLINK("http://x")']
    assert rows[2] == ["ab", "line\r\nbreak\ttab"]

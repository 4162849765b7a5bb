"""Floods: one client address, or a crowd, cannot fill the handoff queue.

The real app over HTTP on real Redis; every customer here comes from 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bot.settings import Settings
from tests.conftest import RunningApp
from tests.webclient import WebCustomer


async def ask_for_a_person(http: httpx.AsyncClient) -> str:
    """A new web customer asks for a person; returns what the bot answers."""
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    assert (await customer.say("人と話したい")).status_code == 202
    return str((await customer.next_from("bot", kind="notice"))["text"])


async def test_one_address_can_ask_for_a_person_only_so_often(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(
        make_settings(escalations_per_ip_per_hour=3, handoff_queue_max=0)
    )
    async with httpx.AsyncClient(base_url=running.base_url, timeout=15) as http:
        answers = [await ask_for_a_person(http) for _ in range(6)]
    queued = [a for a in answers if "番目にお待ちです" in a]
    refused = [a for a in answers if "接続元からの担当者へのお取り次ぎが多すぎます" in a]
    assert (len(queued), len(refused)) == (3, 3), answers
    assert await running.runtime.queue.length() == 3


async def test_the_queue_as_a_whole_is_capped_with_a_clear_message(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running: RunningApp = await serve_app(
        make_settings(escalations_per_ip_per_hour=0, handoff_queue_max=4)
    )
    async with httpx.AsyncClient(base_url=running.base_url, timeout=15) as http:
        answers = [await ask_for_a_person(http) for _ in range(6)]
        assert await running.runtime.queue.length() == 4
        full = answers[4:]
        assert all("お問い合わせが集中しており" in a for a in full), answers
        assert all("番目にお待ちです" in a for a in answers[:4]), answers
        # A refused customer is still with the bot, not waiting.
        customer = await WebCustomer.start(http)
        await customer.next_from("bot")
        await customer.say("人と話したい")
        await customer.next_from("bot", kind="notice")
        conversation = await running.runtime.store.load(f"web:{customer.user_id}")
        assert conversation is not None and conversation.state.value == "bot"

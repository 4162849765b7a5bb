"""An agent answers a customer with one click on an FAQ answer suggested beside the reply box."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import ADMIN_TOKEN, BrowserSession, open_console, open_widget
from tests.browser.test_handoff import ask_for_a_person, claim_first_waiting

ANSWER = "送料は全国一律550円です。税込5,000円以上のご注文で送料無料になります。"


async def test_agent_answers_with_one_click_on_a_suggestion(session: BrowserSession) -> None:
    widget = await open_widget(session)
    await ask_for_a_person(widget)
    await widget.say("送料っていくらかかりますか？")
    await expect(widget.said_by("customer").last).to_have_text("送料っていくらかかりますか？")

    console = await open_console(session, "佐藤")
    await expect(console.locator("#waiting .item .said")).to_have_text(
        "送料っていくらかかりますか？"
    )
    await claim_first_waiting(console)
    panel = console.get_by_role("region", name="FAQの回答候補")
    await expect(panel).to_be_visible()
    first = panel.get_by_role("listitem").first
    await expect(first.locator(".question")).to_have_text("送料はいくらですか？")
    await expect(first.locator(".score")).to_have_text(re.compile(r"^一致度 \d+%$"))
    await session.step("suggested")

    await panel.get_by_role("button", name="この回答を使う: 送料はいくらですか？").click()
    reply = console.get_by_role("textbox", name="返信")
    await expect(reply).to_be_focused()
    await expect(reply).to_have_value(ANSWER)
    await reply.press("Enter")
    await expect(reply).to_have_value("")

    agent_said = widget.log.locator(".msg.agent")
    await expect(agent_said.locator(".bubble")).to_have_text(ANSWER)
    await expect(agent_said.locator(".sender")).to_have_text("佐藤")
    await session.step("answered")

    admin = await session.open("admin", f"/admin#token={ADMIN_TOKEN}")
    card = admin.locator("section.card").filter(
        has=admin.get_by_role("heading", name="Agents answering from the FAQ")
    )
    await expect(card).to_contain_text("100% of 1 agent reply")
    await expect(
        card.locator("tr").filter(has_text="shipping-fee").locator("td").nth(1)
    ).to_have_text("1")
    await session.step("admin")

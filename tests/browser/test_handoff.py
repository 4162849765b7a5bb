"""A customer and an agent meet through the widget and the console; the lead reads /admin."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import ADMIN_TOKEN, BrowserSession, Widget, open_console, open_widget

XSS = "<img src=x onerror=alert(1)>"


async def claim_first_waiting(console: Page) -> None:
    """Open the customer waiting in the queue and claim them."""
    waiting = console.locator("#waiting .item")
    await expect(waiting).to_have_count(1)
    await expect(waiting.locator(".chan")).to_have_text("Web")
    await waiting.click()
    await console.get_by_role("button", name="対応する").click()
    await expect(console.get_by_role("textbox", name="返信")).to_be_focused()


async def ask_for_a_person(widget: Widget) -> None:
    await widget.say("人と話したい")
    await expect(widget.said_by("bot").last).to_contain_text("担当者におつなぎします")


async def test_customer_and_agent_talk_then_the_rating_reaches_admin(
    session: BrowserSession,
) -> None:
    widget = await open_widget(session)
    await ask_for_a_person(widget)
    await session.step("queued")

    console = await open_console(session, "佐藤")
    await expect(console.locator("#waiting .item .said")).to_have_text("人と話したい")
    await session.step("console queue")
    await claim_first_waiting(console)
    await expect(widget.said_by("bot").last).to_have_text("担当の佐藤がご対応します。")

    reply = console.get_by_role("textbox", name="返信")
    await reply.fill("お待たせしました。ご用件をどうぞ。")
    await reply.press("Enter")
    await expect(reply).to_have_value("")
    await expect(console.locator("#transcript li.agent .text").last).to_have_text(
        "お待たせしました。ご用件をどうぞ。"
    )
    # The customer's page was never reloaded: the reply arrives on the open connection.
    agent_said = widget.log.locator(".msg.agent")
    await expect(agent_said.locator(".bubble")).to_have_text("お待たせしました。ご用件をどうぞ。")
    await expect(agent_said.locator(".sender")).to_have_text("佐藤")
    await widget.say("ありがとうございます、解決しました")
    await expect(console.locator("#transcript li.customer .text").last).to_have_text(
        "ありがとうございます、解決しました"
    )
    await session.step("talking")

    await console.get_by_role("button", name="終了").click()
    await expect(console.get_by_role("status")).to_contain_text("終了しました")
    await expect(widget.said_by("bot").last).to_contain_text("簡単に解決できた")
    scale = widget.log.locator(".msg.bot").last.get_by_role("button")
    await expect(scale).to_have_count(7)
    await expect(scale.first).to_have_accessible_name("1 まったくそう思わない")
    await expect(scale.nth(5)).to_have_accessible_name("6")
    await expect(scale.last).to_have_accessible_name("7 とてもそう思う")
    await session.step("survey asked")
    await widget.choice("6").click()
    await expect(widget.said_by("customer").last).to_have_text("6")
    await expect(widget.log.get_by_role("button", name="6")).to_be_disabled()
    await expect(widget.said_by("bot").last).to_contain_text("ありがとうございました")
    await session.step("rated")

    admin = await session.open("admin", f"/admin#token={ADMIN_TOKEN}")
    ces = admin.locator(".kpi").filter(has=admin.locator(".name", has_text=re.compile("^CES$")))
    await expect(ces.locator(".value")).to_have_text("6.0 / 7")
    await expect(ces.locator(".sub")).to_have_text("100% easy (5–7) · 1 answer")
    agent_row = admin.locator("tr").filter(has=admin.get_by_role("cell", name="佐藤", exact=True))
    await expect(agent_row.locator(".pill")).to_have_text("6.0")
    await session.step("admin")


async def test_markup_is_shown_as_text_on_both_sides(session: BrowserSession) -> None:
    widget = await open_widget(session)
    await ask_for_a_person(widget)
    await widget.say(XSS)
    await expect(widget.said_by("customer").last).to_have_text(XSS)

    console = await open_console(session, "佐藤")
    await expect(console.locator("#waiting .item .said")).to_have_text(XSS)
    await claim_first_waiting(console)
    await expect(console.locator("#transcript li.customer .text").last).to_have_text(XSS)
    reply = console.get_by_role("textbox", name="返信")
    await reply.fill(f"入力された内容: {XSS}")
    await reply.press("Enter")
    await expect(console.locator("#transcript li.agent .text").last).to_have_text(
        f"入力された内容: {XSS}"
    )
    await expect(widget.said_by("agent").last).to_have_text(f"入力された内容: {XSS}")
    await session.step("both sides")

    for page in (widget.page, console):
        assert await page.locator("img").count() == 0, "the markup became an element"
        assert await page.locator("tsunagu-widget img").count() == 0
    assert session.page_errors() == [], "the onerror handler ran"

"""One customer across LINE and the web widget, in real browsers.

A customer asks on LINE (signed webhooks from the fake LINE platform), links the web
widget with the code LINE gave them by typing it in the widget's "LINEと連携" section,
continues there and asks for a person. The agent sees the LINE messages, marked, in the
console and in the Slack escalation (fake Slack), claims and replies; the reply reaches the
widget. The lead finds the conversation in /admin by a word said on LINE and opens it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable

import pytest
from playwright.async_api import expect

from bot.settings import Settings
from tests.browser.conftest import ADMIN_TOKEN, BrowserSession, open_console, open_widget
from tests.fakes.line_platform import LineApp, LineWorld
from tests.fakes.slack_platform import FakeSlack, line_world_with_slack, started_slack

DESK = "C0DESK"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with started_slack() as fake:
        yield fake


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], slack: FakeSlack
) -> AsyncIterator[LineWorld]:
    """The app with its LINE channel on the fake LINE platform and Slack on the fake Slack."""
    async with line_world_with_slack(
        make_settings(admin_token=ADMIN_TOKEN), slack, DESK
    ) as running:
        yield running


def blocks_text(slack: FakeSlack, ts: str) -> str:
    """The escalation message as it reads now."""
    return json.dumps(slack.current_blocks(DESK, ts) or [], ensure_ascii=False)


@pytest.fixture
def site(world: LineWorld) -> LineApp:
    """The browsers open this app (the one LINE and Slack talk to)."""
    return world.app


async def test_asked_on_line_linked_in_the_widget_served_and_found_by_the_lead(
    session: BrowserSession, world: LineWorld, slack: FakeSlack
) -> None:
    line = world.platform
    user = world.new_user("Hanako")
    await line.say(user, "送料はいくらですか？")
    await line.wait_for_text(user, "550")
    await line.say(user, "連携コード")
    issued = await line.wait_for_text(user, "連携コード:")
    found = re.search(r"\b(\d{6})\b", issued["text"])
    assert found, issued
    code = found.group(1)

    # The widget: open "LINEと連携", mistype, then enter the code LINE gave.
    widget = await open_widget(session)
    page = widget.page
    toggle = page.get_by_role("button", name="LINEと連携", exact=True)
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    linking = page.get_by_role("region", name="LINEと連携する")
    code_box = linking.get_by_role("textbox", name="LINEで受け取った6桁のコード")
    await expect(code_box).to_be_focused()
    await expect(linking.get_by_role("status")).to_have_text("まだ連携していません。")
    await code_box.fill("12345")
    await code_box.press("Enter")
    await expect(linking.get_by_role("alert")).to_have_text("6桁の数字を入力してください。")
    await expect(code_box).to_have_attribute("aria-invalid", "true")
    await session.step("mistyped")
    await code_box.fill(code.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
    await linking.get_by_role("button", name="連携する").click()
    await expect(widget.log.locator(".note")).to_have_text(
        "LINEと連携しました。会話の続きをどうぞ。"
    )
    await expect(linking).to_be_hidden()
    await expect(widget.input).to_be_focused()
    await session.step("linked")

    await widget.say("人と話したい")
    await expect(widget.said_by("bot").last).to_contain_text("担当者におつなぎします")
    assert await world.app.runtime.queue.waiting(10) == [f"line:{user}"], "one customer"

    # The console: the LINE lines are there, marked, under one customer.
    console = await open_console(session, "佐藤")
    await console.locator("#waiting .item").click()
    said = console.locator("#transcript li.customer")
    await expect(said.locator(".text")).to_have_text(
        ["送料はいくらですか？", "連携コード", "人と話したい"]
    )
    await expect(said.locator(".channel-mark")).to_have_text(["LINE", "LINE", "Web"])
    await expect(console.locator("#transcript")).not_to_contain_text(code)
    await session.step("console")

    # Slack: the escalation shows the LINE messages, marked.
    escalation = (
        await slack.wait_for(
            lambda: [p for p in slack.posts(DESK) if "thread_ts" not in p.args],
            what="the escalation",
        )
    )[0]
    shown = json.dumps(escalation.args["blocks"], ensure_ascii=False)
    assert "Customer (Hanako) · LINE:* 送料はいくらですか？" in shown
    assert "· Web:* 人と話したい" in shown

    await console.get_by_role("button", name="対応する").click()
    reply = console.get_by_role("textbox", name="返信")
    await expect(reply).to_be_focused()
    await reply.fill("ご注文番号を教えてください")
    await reply.press("Enter")
    await expect(widget.said_by("agent").last).to_have_text("ご注文番号を教えてください")
    # The agent may send on the customer's other channel instead.
    send_on = console.get_by_role("combobox", name="送信先")
    await expect(send_on).to_have_value("")
    await expect(send_on.locator("option")).to_have_text(["Web（最後に書いたチャネル）", "LINE"])
    await send_on.select_option(label="LINE")
    await reply.fill("LINEにもお送りします")
    await reply.press("Enter")
    await line.wait_for_text(user, "LINEにもお送りします")
    last = console.locator("#transcript li.agent").last
    await expect(last.locator(".channel-mark")).to_have_text("LINE")
    # The Slack escalation says who holds it, though the claim was made in the console.
    await slack.wait_for(
        lambda: "Claimed by 佐藤" in blocks_text(slack, escalation.result["ts"]),
        what="the escalation updated to the console's claim",
    )
    await session.step("served")

    # The lead finds it in /admin by a word said on LINE, and opens it.
    admin = await session.open("admin", f"/admin#token={ADMIN_TOKEN}")
    await admin.get_by_role("button", name="Conversations").click()
    search = admin.get_by_role("search", name="Search conversations")
    await search.get_by_role("searchbox", name="Words").fill("送料")
    await search.get_by_role("button", name="Search").click()
    await expect(admin.get_by_role("status")).to_have_text("1 conversation found.")
    rows = admin.locator("#conversation-list tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.locator(".chan")).to_have_text(["LINE", "Web"])
    await rows.get_by_role("button", name=re.compile("^Open the conversation of Hanako")).click()
    transcript = admin.get_by_role("list", name="Transcript")
    customer = transcript.locator("li.customer")
    await expect(customer.locator(".text")).to_have_text(
        ["送料はいくらですか？", "連携コード", "人と話したい"]
    )
    await expect(customer.locator(".chan")).to_have_text(["LINE", "LINE", "Web"])
    await expect(admin.locator("#conversation dl")).to_contain_text("佐藤")
    await expect(admin.locator("#conversation")).to_contain_text("shipping-fee")
    await session.step("admin")
    # Nothing on the list without the word.
    await search.get_by_role("searchbox", name="Words").fill("返品")
    await search.get_by_role("button", name="Search").click()
    await expect(admin.get_by_role("status")).to_have_text("No conversation matches.")


async def test_a_code_shown_in_the_widget_sent_on_line_links_then_unlinks(
    session: BrowserSession, world: LineWorld
) -> None:
    line = world.platform
    user = world.new_user("Taro")
    widget = await open_widget(session)
    page = widget.page
    await page.get_by_role("button", name="LINEと連携", exact=True).click()
    linking = page.get_by_role("region", name="LINEと連携する")
    await linking.get_by_role("button", name="LINEで入力するコードを表示").click()
    shown = linking.locator(".shown-code")
    await expect(shown).to_have_text(re.compile(r"^\d{6}$"))
    await expect(linking).to_contain_text("このコードをLINEで送ってください（10分間有効）。")
    await session.step("code shown")

    # Six digits sent alone on LINE link because they are a live code.
    await line.say(user, await shown.inner_text())
    await line.wait_for_text(user, "連携しました")
    await expect(widget.log.locator(".note")).to_have_text(
        "LINEと連携しました。会話の続きをどうぞ。"
    )
    await expect(linking).to_be_hidden()
    await session.step("linked from LINE")

    await page.get_by_role("button", name="LINEと連携", exact=True).click()
    await expect(linking.get_by_role("status")).to_have_text("LINEと連携しています。")
    await linking.get_by_role("button", name="連携を解除").click()
    await expect(linking.get_by_role("status")).to_have_text(
        "連携を解除しました。 まだ連携していません。"
    )
    await expect(linking.get_by_role("button", name="連携を解除")).to_be_hidden()
    await page.keyboard.press("Escape")
    await expect(linking).to_be_hidden()
    await expect(widget.panel).to_be_visible()

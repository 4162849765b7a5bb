"""Two agents in two consoles: the one who did not claim sees who holds it, and takes over."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import BrowserSession, open_console, open_widget


async def test_a_second_agent_sees_the_holder_and_takes_over_on_the_record(
    session: BrowserSession,
) -> None:
    widget = await open_widget(session)
    await widget.say("人と話したい")
    await expect(widget.said_by("bot").last).to_contain_text("担当者におつなぎします")

    sato = await open_console(session, "佐藤")
    await sato.locator("#waiting .item").click()
    await sato.get_by_role("button", name="対応する").click()
    await expect(widget.said_by("bot").last).to_have_text("担当の佐藤がご対応します。")

    tanaka = await open_console(session, "田中")
    await tanaka.locator("#held .item").click()
    await expect(tanaka.locator("#handled")).to_have_text("佐藤がこの会話を対応中です。")
    await expect(tanaka.get_by_role("textbox", name="返信")).to_be_hidden()
    await expect(tanaka.get_by_role("button", name="終了")).to_be_hidden()
    await session.step("held by someone else")

    await tanaka.get_by_role("button", name="引き継ぐ").click()
    await expect(tanaka.get_by_role("status")).to_contain_text("佐藤から")
    await expect(tanaka.get_by_role("textbox", name="返信")).to_be_visible()
    await expect(widget.said_by("bot").last).to_have_text("担当の田中がご対応します。")
    await expect(tanaka.locator("#transcript li.system").last).to_contain_text(
        "田中 (admin:田中) took over from 佐藤 (admin:佐藤)"
    )
    # Sato's console, on its next poll, no longer offers the reply box.
    await expect(sato.get_by_role("textbox", name="返信")).to_be_hidden()
    await expect(sato.get_by_role("button", name="引き継ぐ")).to_be_visible()
    await session.step("taken over")

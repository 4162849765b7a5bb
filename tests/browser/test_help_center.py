"""Customers help themselves in the help center, on a phone, and the lead reads what they said."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import ADMIN_TOKEN, BrowserSession, open_widget
from tests.browser.test_phone_and_keyboard import PHONE, horizontal_overflow

COMMENT = "沖縄への送料も同じですか？ I need it for Okinawa."


async def search(page: Page, label: str, query: str) -> None:
    """Type a query in the labelled search box and press Enter, as a reader would."""
    box = page.get_by_role("searchbox", name=label)
    await box.tap()
    await box.fill(query)
    await box.press("Enter")


async def test_searched_on_a_phone_in_japanese_and_english_and_a_no_reaches_admin(
    session: BrowserSession,
) -> None:
    ja = await session.open("reader-ja", "/help", **PHONE)
    await expect(ja.get_by_role("heading", level=1)).to_have_text("Tsunagu Store ヘルプセンター")
    await expect(ja.get_by_role("main")).to_be_visible()
    await expect(ja.get_by_role("heading", name="配送・送料")).to_be_visible()
    assert await horizontal_overflow(ja) == 0
    await session.step("index ja")

    await search(ja, "ヘルプセンターを検索", "送料っていくら？")
    await expect(ja.get_by_role("heading", level=1)).to_have_text("「送料っていくら？」の検索結果")
    first = ja.locator("ol.results li a").first
    await expect(first).to_have_text("送料はいくらですか？")
    assert await horizontal_overflow(ja) == 0
    await session.step("results ja")

    en = await session.open("reader-en", "/help", locale="en-US", **PHONE)
    await expect(en.get_by_role("heading", level=1)).to_have_text("Tsunagu Store Help Center")
    await search(en, "Search the help center", "how much is postage")
    result = en.get_by_role("link", name="How much is shipping?")
    await expect(result).to_be_visible()
    await session.step("results en")
    await result.tap()
    await expect(en.get_by_role("heading", level=1)).to_have_text("How much is shipping?")
    await expect(en.get_by_text("flat 550 yen", exact=False)).to_be_in_viewport()
    assert await horizontal_overflow(en) == 0

    await en.get_by_role("button", name="No", exact=True).tap()
    comment = en.get_by_role("textbox", name="What was missing? Tell us if you like (optional).")
    await expect(comment).to_be_focused()
    await comment.fill(COMMENT)
    await session.step("comment")
    await en.get_by_role("button", name="Send", exact=True).tap()
    await expect(en.get_by_role("status")).to_have_text(
        "Thank you. Your answer helps us improve this article."
    )
    await expect(en.get_by_role("button", name="No", exact=True)).to_be_hidden()
    await session.step("thanked")

    admin = await session.open("admin", f"/admin#token={ADMIN_TOKEN}")
    card = admin.locator("section.card").filter(
        has=admin.get_by_role("heading", name="Help center", exact=True)
    )
    await expect(card).to_contain_text("1 article view")
    await expect(card).to_contain_text("2 searches (0 with no result")
    row = card.locator("tr").filter(has_text="shipping-fee")
    await expect(row).to_contain_text(COMMENT)
    await expect(row.locator("td").nth(1)).to_have_text("1")  # views
    await expect(row.locator("td").nth(3)).to_have_text("0 / 1")  # yes / no
    await session.step("admin")


async def test_without_javascript_the_pages_read_and_the_feedback_form_works(
    session: BrowserSession,
) -> None:
    page = await session.open("no-script", "/help/tracking", java_script_enabled=False)
    await expect(page.get_by_role("heading", level=1)).to_have_text("荷物の配送状況を確認したい")
    await page.get_by_role("button", name="いいえ").click()
    await expect(page).to_have_url(re.compile(r"/help/tracking\?lang=ja&feedback=no&fid="))
    comment = page.get_by_role("textbox", name=re.compile("足りなかった情報"))
    await comment.fill("追跡番号が届かない")
    await page.get_by_role("button", name="送信").click()
    await expect(page.get_by_role("status")).to_contain_text("ご協力ありがとうございました")
    await session.step("thanked")
    section = (await session.open("check", "/help/tracking")).get_by_role(
        "heading", name="この記事で解決しましたか？"
    )
    await expect(section).to_be_visible()


async def test_widget_offers_top_articles_first_and_links_an_answer_to_its_page(
    session: BrowserSession,
) -> None:
    widget = await open_widget(session)
    popular = widget.page.get_by_role("navigation", name="よく見られている質問")
    await expect(popular).to_be_visible()
    await expect(popular.get_by_role("link")).to_have_count(5)
    await expect(popular.get_by_role("link").first).to_have_attribute(
        "href", re.compile(r"/help/shipping-fee\?lang=ja$")
    )
    await session.step("top articles")

    await widget.say("送料はいくらですか？")
    await expect(popular).to_be_hidden()  # they are for before the first message
    link = widget.log.get_by_role("link", name="ヘルプセンターで詳しく見る")
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("href", re.compile(r"/help/shipping-fee\?lang=ja$"))
    await session.step("answer linked")

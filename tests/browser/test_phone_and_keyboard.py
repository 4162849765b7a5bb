"""The widget on a phone-sized screen, by keyboard alone, and as a screen reader reads it."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import BrowserSession, Widget, open_widget

PHONE = {
    "viewport": {"width": 375, "height": 667},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
LONG_JA = "注文番号は2024-0001234567です。" * 6
LONG_WORD = "https://shop.example.com/orders/" + "0123456789" * 12


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page scrolls sideways (0: none)."""
    return int(
        await page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


async def focused_label(page: Page) -> str:
    """What a screen reader would announce for the focused element (inside the widget too)."""
    return str(
        await page.evaluate(
            """() => {
              let el = document.activeElement;
              while (el && el.shadowRoot && el.shadowRoot.activeElement) {
                el = el.shadowRoot.activeElement;
              }
              if (!el) return '';
              return el.getAttribute('aria-label') || el.textContent.trim();
            }"""
        )
    )


async def tab_to(page: Page, label: str, limit: int = 40) -> None:
    """Press Tab until the element named `label` has the focus."""
    seen = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        seen.append(await focused_label(page))
        if seen[-1] == label:
            return
    raise AssertionError(f"Tab never reached {label!r}; it went through {seen}")


async def test_phone_screen_no_sideways_scroll_and_the_input_in_reach(
    session: BrowserSession,
) -> None:
    widget = await open_widget(session, **PHONE)
    page = widget.page
    await expect(widget.launcher).to_be_hidden()  # the open panel is the whole screen
    box = await widget.panel.bounding_box()
    assert box and box["x"] == 0 and box["width"] == 375, box
    assert await horizontal_overflow(page) == 0

    await widget.input.tap()
    await expect(widget.input).to_be_focused()
    await expect(widget.input).to_be_in_viewport()
    await expect(widget.send_button).to_be_in_viewport()
    for text in (LONG_JA, LONG_WORD):
        await widget.input.fill(text)
        await widget.send_button.tap()
        await expect(widget.said_by("customer").last).to_have_text(text)
    await expect(widget.said_by("bot").last).to_be_visible()
    await session.step("long messages")
    scroller = page.locator("tsunagu-widget .scroller")
    assert await scroller.evaluate("s => s.scrollWidth - s.clientWidth") == 0
    assert await horizontal_overflow(page) == 0

    await page.get_by_role("button", name="チャットを閉じる").tap()
    await expect(widget.panel).to_be_hidden()
    await expect(widget.launcher).to_be_in_viewport()
    assert await horizontal_overflow(page) == 0
    await session.step("closed")


async def test_keyboard_only_with_names_a_screen_reader_reads(session: BrowserSession) -> None:
    widget = await open_widget(session)
    page = widget.page
    # Everything a person operates has a name, and the regions say what they are.
    await expect(widget.panel).to_have_accessible_name("お問い合わせ")
    await expect(widget.log).to_have_accessible_name("メッセージ")
    await expect(widget.launcher).to_have_accessible_name("チャットを開く")
    for button in await page.locator("tsunagu-widget button").all():
        name = (await button.get_attribute("aria-label")) or (await button.inner_text()).strip()
        assert name, await button.evaluate("b => b.outerHTML")

    await tab_to(page, "メッセージを入力")
    await page.keyboard.type("送料はいくらですか？")
    await page.keyboard.press("Enter")
    await expect(widget.log.get_by_text("550", exact=False).first).to_be_visible()
    await expect(widget.input).to_be_focused()  # ready for the next question
    await tab_to(page, "解決した")
    await session.step("keyboard on a choice")
    await page.keyboard.press("Enter")
    await expect(widget.said_by("customer").last).to_have_text("解決した")
    await expect(widget.said_by("bot").last).to_contain_text("簡単に解決できた")

    # Escape closes the panel and gives the focus back to the button that opens it.
    await page.keyboard.press("Escape")
    await expect(widget.panel).to_be_hidden()
    await expect(widget.launcher).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(widget.panel).to_be_visible()
    await expect(widget.input).to_be_focused()
    await session.step("reopened")


async def test_the_try_buttons_of_the_demo_page_ask_the_widget(session: BrowserSession) -> None:
    widget: Widget = await open_widget(session)
    await widget.page.get_by_role("button", name="How much is shipping?").click()
    await expect(widget.said_by("customer").last).to_have_text("How much is shipping?")
    await expect(widget.log.get_by_text("550 yen", exact=False).first).to_be_visible()

"""A customer on the demo page asks the FAQ, in a real browser."""

from __future__ import annotations

from playwright.async_api import expect

from bot.faq import Outcome
from tests.browser.conftest import BrowserSession, open_widget
from tests.conftest import RunningApp

VAGUE = ["支払い", "注文について", "配送", "アカウント", "商品について"]


async def test_faq_answer_then_a_suggestion_tapped(
    site: RunningApp, session: BrowserSession
) -> None:
    widget = await open_widget(session)
    await session.step("opened")

    await widget.say("送料はいくらですか？")
    await expect(widget.said_by("customer").last).to_have_text("送料はいくらですか？")
    await expect(widget.log.get_by_text("550", exact=False).first).to_be_visible()
    await expect(widget.said_by("bot").last).to_have_text("この回答で解決しましたか？")
    await expect(widget.choice("解決した")).to_be_visible()
    await expect(widget.choice("解決しない")).to_be_visible()
    await session.step("answered")

    # Whichever of these the current FAQ finds ambiguous (the matcher evolves).
    faq = site.runtime.faq
    vague = next(t for t in VAGUE if faq.decide(t).outcome is Outcome.SUGGEST)
    await widget.say(vague)
    await expect(widget.said_by("customer").last).to_have_text(vague)
    # Moving on disables the older buttons: only the new suggestions can be tapped.
    await expect(widget.log.get_by_role("button", name="解決した")).to_be_disabled()
    labels = {e.label_for("ja"): e for e in faq.entries}
    suggestions = widget.log.locator(".msg.bot").last.get_by_role("button")
    await expect(suggestions.first).to_be_enabled()
    offered = [t for t in await suggestions.all_inner_texts() if t in labels]
    assert offered, f"no FAQ entry among the buttons {await suggestions.all_inner_texts()}"
    await session.step("suggestions")

    await widget.choice(offered[0]).click()
    expected = labels[offered[0]].answer_for("ja")
    await expect(widget.said_by("customer").last).to_have_text(offered[0])
    await expect(widget.said_by("bot").filter(has_text=expected[:20]).last).to_have_text(expected)
    await session.step("suggestion answered")
    assert await widget.pending().count() == 0, "every message sent was confirmed"

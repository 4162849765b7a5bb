"""The customer's connection drops and comes back: nothing is lost or shown twice."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
from playwright.async_api import expect

from tests.browser.conftest import ADMIN_TOKEN, BrowserSession, Widget, open_widget
from tests.conftest import RunningApp

AGENT = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Agent-Name": quote("佐藤")}


async def customer_key(widget: Widget, site: RunningApp) -> str:
    """The console's key of the widget's customer (from the identity the widget keeps)."""
    saved = await widget.page.evaluate(
        "key => localStorage.getItem(key)", f"tsunagu:identity:{site.base_url}"
    )
    return f"web:{json.loads(saved)['userId']}"


async def test_offline_then_online_loses_nothing_and_repeats_nothing(
    site: RunningApp, session: BrowserSession
) -> None:
    widget = await open_widget(session)
    page = widget.page
    sockets = session.tab(page).sockets
    await widget.say("人と話したい")
    await expect(widget.said_by("bot").last).to_contain_text("担当者におつなぎします")
    path = f"/agent/api/conversations/{quote(await customer_key(widget, site), safe='')}"
    async with httpx.AsyncClient(base_url=site.base_url, headers=AGENT, timeout=15) as agent:
        (await agent.post(f"{path}/claim")).raise_for_status()
        await expect(widget.said_by("bot").last).to_have_text("担当の佐藤がご対応します。")

        for round_ in (1, 2):
            await page.context.set_offline(True)
            status = page.get_by_role("status").filter(has_text="オフライン")
            await expect(status).to_be_visible()
            # Both sides write while the customer is cut off.
            await widget.say(f"圏外から送ります {round_}")
            await expect(widget.pending()).to_have_count(1)
            await expect(widget.pending()).to_contain_text("送信中")
            reply = {"text": f"届いていますか？ {round_}", "client_id": f"agent-{round_}"}
            (await agent.post(f"{path}/reply", json=reply)).raise_for_status()
            await session.step(f"offline {round_}")

            await page.context.set_offline(False)
            await expect(status).to_be_hidden()
            await expect(widget.pending()).to_have_count(0)
            await expect(widget.said_by("customer").last).to_have_text(f"圏外から送ります {round_}")
            await expect(widget.said_by("agent").last).to_have_text(f"届いていますか？ {round_}")
            await session.step(f"online {round_}")

    # The drops were real: each one closed the WebSocket and the widget opened a new one.
    assert len(sockets) == 3, [w.url for w in sockets]
    assert [w.is_closed() for w in sockets] == [True, True, False]
    shown = await widget.texts()
    for round_ in (1, 2):
        assert shown.count(("customer", f"圏外から送ります {round_}")) == 1, shown
        assert shown.count(("agent", f"届いていますか？ {round_}")) == 1, shown
    # A reload shows what the server kept: the same messages, in the same order.
    await page.reload()
    await expect(widget.log.locator(".msg")).to_have_count(len(shown))
    assert await widget.texts() == shown

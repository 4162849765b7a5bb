"""The support lead watches LINE's message cost on /admin: pushes used of the quota, the share
of free replies, the projection, and the warnings (80% of the quota, LINE's own chat on)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest
from playwright.async_api import Browser, expect

from bot.actor import Actor
from bot.settings import Settings
from channels.line.panel import check_bot_info
from tests.browser.conftest import ADMIN_TOKEN, KEEP_ALWAYS, BrowserSession, _failed
from tests.conftest import ROOT
from tests.eventually import settled
from tests.fakes.line_platform import LineWorld, line_world

SATO = Actor(id="console:sato", name="佐藤")


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LineWorld]:
    settings = make_settings(admin_token=ADMIN_TOKEN)
    async with line_world(settings, push_budget=150) as running:
        yield running


@pytest.fixture
async def lead(
    request: pytest.FixtureRequest, browser: Browser, world: LineWorld
) -> AsyncIterator[BrowserSession]:
    """The lead's pages, kept in test-artifacts/ as the other browser tests keep theirs."""
    recorder = BrowserSession(browser, world.app.base_url, request.node.name)
    yield recorder
    if _failed(request.node) or KEEP_ALWAYS:
        folder = await recorder.save()
        print(f"\nscreenshots and console logs: {folder.relative_to(ROOT)}/")
    errors = recorder.page_errors()
    await recorder.close()
    if errors and not _failed(request.node):
        pytest.fail("the pages raised errors or opened dialogs:\n" + "\n".join(errors))


async def test_the_lead_sees_pushes_of_the_quota_and_the_warnings(
    world: LineWorld, lead: BrowserSession
) -> None:
    platform, runtime = world.platform, world.app.runtime
    platform.usage_offset = 164  # this month's broadcasts, sent from the Manager
    platform.bot_info["chatMode"] = "chat"
    line = world.app.channel
    await check_bot_info(line.api, line.redis, line.line_keys)
    user = world.new_user("花子")
    await platform.say(user, "送料はいくらですか？")
    await platform.wait_for_text(user, "550")
    await platform.say(user, "人と話したい")
    await platform.wait_for_text(user, "番目")
    await settled(runtime.inbox)
    key = f"line:{user}"
    assert (await runtime.agents.claim(key, SATO, action_id="c1")).ok
    assert (await runtime.agents.reply(key, SATO, "佐藤です。", action_id="r1")).ok
    await platform.wait_for_text(user, "佐藤です。")

    viewport = {"width": 1280, "height": 900}
    page = await lead.open("lead", f"/admin#token={ADMIN_TOKEN}", viewport=viewport)
    card = page.get_by_role("region", name=re.compile(r"^LINE messages, \d{4}-\d{2}$"))
    await expect(card).to_be_visible()
    await expect(card.get_by_text("166 / 200")).to_be_visible()
    await expect(card.get_by_role("meter", name="Pushes this month")).to_have_attribute(
        "aria-valuenow", "83"
    )
    await expect(card.get_by_text("Free replies")).to_be_visible()
    alerts = card.get_by_role("alert")
    await expect(alerts.filter(has_text="83% of this month's quota")).to_be_visible()
    await expect(alerts.filter(has_text="two answers")).to_be_visible()
    await lead.step("admin")
    lead.shots.append(("line-cost-card", await card.screenshot()))

"""Browser fixtures: Debian's Chromium driven by Playwright against the app on a free port.

Every page a test opens is recorded: `session.step("…")` takes a screenshot of each open
page, and when a test fails those screenshots, a last one of each page and the pages'
console logs are written to `test-artifacts/<test name>/`
(`TSUNAGU_SCREENSHOTS=always` keeps them for passing tests too).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Error,
    Locator,
    Page,
    WebSocket,
    async_playwright,
    expect,
)

from bot.settings import Settings
from tests.conftest import ROOT, RunningApp

CHROMIUM = os.environ.get("TSUNAGU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_TOKEN = "browser-admin-token"
TIMEOUT_MS = 15_000
KEEP_ALWAYS = os.environ.get("TSUNAGU_SCREENSHOTS") == "always"

expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/browser is in the `browser` layer (`-m "not browser"`)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.path)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(item: pytest.Item) -> bool:
    return any(
        getattr(getattr(item, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


@dataclass
class Tab:
    """One page of the test, with what it logged."""

    name: str
    context: BrowserContext
    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)


class BrowserSession:
    """The pages of one test, and the screenshots of each step to keep if it fails."""

    def __init__(self, browser: Browser, base_url: str, test_name: str):
        self.browser = browser
        self.base_url = base_url
        self.test_name = test_name
        self.tabs: list[Tab] = []
        self.shots: list[tuple[str, bytes]] = []
        self.started = time.monotonic()

    async def open(self, name: str, path: str = "/", **context_options: Any) -> Page:
        """A page in a fresh browser context (its own storage, like another person's browser)."""
        options: dict[str, Any] = {"locale": "ja-JP", "timezone_id": "Asia/Tokyo"}
        options.update(context_options)
        context = await self.browser.new_context(base_url=self.base_url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        tab = Tab(name, context, page)

        def on_console(message: ConsoleMessage) -> None:
            at = time.monotonic() - self.started
            tab.console.append(f"{at:7.2f}s {message.type}: {message.text}")

        def on_error(error: Error) -> None:
            tab.errors.append(str(error))
            tab.console.append(f"{time.monotonic() - self.started:7.2f}s uncaught: {error}")

        async def on_dialog(dialog: Dialog) -> None:
            tab.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", on_error)
        page.on("dialog", on_dialog)
        page.on("websocket", lambda socket: tab.sockets.append(socket))
        self.tabs.append(tab)
        await page.goto(path)
        return page

    def tab(self, page: Page) -> Tab:
        """The record of one of this test's pages."""
        return next(t for t in self.tabs if t.page is page)

    async def step(self, label: str) -> None:
        """Screenshot every open page now (kept in memory, written only if the test fails)."""
        for tab in self.tabs:
            if tab.page.is_closed():
                continue
            try:
                shot = await tab.page.screenshot(timeout=5_000)
            except Error:
                continue
            self.shots.append((f"{len(self.shots) + 1:02d}-{_slug(label)}-{tab.name}", shot))

    def page_errors(self) -> list[str]:
        """Uncaught script errors and alert/confirm dialogs of every page so far."""
        return [f"{t.name}: {e}" for t in self.tabs for e in t.errors + t.dialogs]

    async def save(self) -> Path:
        """Write the steps' screenshots, a last one of each page and the console logs."""
        folder = ARTIFACTS / _slug(self.test_name)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        await self.step("last")
        for name, shot in self.shots:
            (folder / f"{name}.png").write_bytes(shot)
        for tab in self.tabs:
            log = "\n".join(tab.console) or "(nothing logged)"
            (folder / f"console-{tab.name}.log").write_text(log + "\n", encoding="utf-8")
        return folder

    async def close(self) -> None:
        for tab in self.tabs:
            try:
                await tab.context.close()
            except Error:
                pass


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "step"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; a missing browser fails the run, it never skips."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}, and there is none: run "
            "scripts/ensure-chromium (installs Debian's chromium package) or set "
            "TSUNAGU_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """Headless Chromium, driven by Playwright, for one test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def site(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> RunningApp:
    """The whole app (widget, console, /admin) on a free port, on the test's Redis prefix."""
    running: RunningApp = await serve_app(make_settings(admin_token=ADMIN_TOKEN))
    return running


@pytest.fixture
async def session(
    request: pytest.FixtureRequest, browser: Browser, site: RunningApp
) -> AsyncIterator[BrowserSession]:
    """The test's pages; on failure their step screenshots go to test-artifacts/."""
    recorder = BrowserSession(browser, site.base_url, request.node.name)
    yield recorder
    if _failed(request.node) or KEEP_ALWAYS:
        folder = await recorder.save()
        print(f"\nscreenshots and console logs: {folder.relative_to(ROOT)}/")
    errors = recorder.page_errors()
    await recorder.close()
    if errors and not _failed(request.node):
        pytest.fail("the pages raised errors or opened dialogs:\n" + "\n".join(errors))


# ---------------------------------------------------------------------------------------
# The pages, as a person sees them
# ---------------------------------------------------------------------------------------


class Widget:
    """The chat widget on a page, found by the names a screen reader announces."""

    def __init__(self, page: Page):
        self.page = page
        self.panel = page.get_by_role("dialog", name="お問い合わせ")
        self.log = page.get_by_role("log", name="メッセージ")
        self.input = page.get_by_role("textbox", name="メッセージを入力")
        self.send_button = page.get_by_role("button", name="送信", exact=True)
        self.launcher = page.locator("tsunagu-widget .launcher")

    def said_by(self, sender: str) -> Locator:
        """Bubbles of the confirmed log from `customer`, `bot` or `agent`."""
        return self.log.locator(f".msg.{sender} .bubble")

    def pending(self) -> Locator:
        """Our own messages not yet confirmed by the server."""
        return self.page.locator("tsunagu-widget .pending .msg")

    async def say(self, text: str) -> None:
        """Type a message and press Enter, as a customer would."""
        await self.input.fill(text)
        await self.input.press("Enter")

    def choice(self, label: str) -> Locator:
        """The newest enabled button with this label."""
        return (
            self.log.get_by_role("button", name=label, exact=True)
            .and_(self.page.locator("button:enabled"))
            .last
        )

    async def texts(self) -> list[tuple[str, str]]:
        """Every confirmed message as (sender class, text), in order."""
        rows = self.log.locator(".msg")
        out = []
        for i in range(await rows.count()):
            row = rows.nth(i)
            classes = (await row.get_attribute("class") or "").split()
            sender = next(c for c in ("customer", "bot", "agent") if c in classes)
            out.append((sender, await row.locator(".bubble").inner_text()))
        return out


async def open_widget(session: BrowserSession, name: str = "customer", **options: Any) -> Widget:
    """The demo shop page, with its chat panel open and the greeting shown."""
    page = await session.open(name, "/", **options)
    widget = Widget(page)
    await expect(widget.panel).to_be_visible()
    await expect(widget.said_by("bot").first).to_be_visible()
    return widget


async def open_console(session: BrowserSession, agent_name: str) -> Page:
    """The agent console signed in with the admin token, as `agent_name`."""
    page = await session.open("agent", f"/agent#token={ADMIN_TOKEN}")
    await page.get_by_label("表示名").fill(agent_name)
    await page.get_by_role("button", name="続ける").click()
    await expect(page.get_by_role("heading", name="待機中")).to_be_visible()
    return page

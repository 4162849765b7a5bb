"""Every survey response is POSTed, signed, to the admin's webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.serving import free_port
from bot.settings import Settings
from tests.conftest import RunningApp
from tests.eventually import eventually
from tests.webclient import WebCustomer

SECRET = "webhook-secret"


class Receiver:
    """A local HTTP endpoint that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


async def test_a_rating_is_posted_signed_once(
    serve_app: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
) -> None:
    settings = make_settings(survey_webhook_url=receiver.url, survey_webhook_secret=SECRET)
    app: RunningApp = await serve_app(settings)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
        customer = await WebCustomer.start(http)
        await customer.say("送料はいくらですか？")
        solved = await customer.next_from("bot", kind="notice")
        await customer.tap(next(c for c in solved["choices"] if c["payload"] == "helpful:yes"))
        survey = await customer.next_from("bot", kind="survey")
        await customer.tap(next(c for c in survey["choices"] if c["payload"] == "rating:7"))
        await customer.next_from("bot", kind="notice")
    # Posted right after the customer's thanks.
    await eventually(lambda: receiver.received, what="the survey webhook was called")

    [(headers, body)] = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Tsunagu-Signature"], expected)
    response = json.loads(body)
    assert (response["score"], response["question"], response["channel"]) == (7, "ces", "web")
    assert response["faq_ids"] == ["shipping-fee"]
    assert headers["X-Tsunagu-Delivery"] == f"{response['conversation_id']}:ces"

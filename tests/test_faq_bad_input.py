"""Messages the matcher finds hard to read still get a decision, and the customer a reply."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.faq import Decision, FaqLibrary, Outcome
from bot.settings import Settings
from tests.conftest import RunningApp
from tests.fakes.slack_platform import FakeSlack, SlackTestApp, serve_with_slack
from tests.webclient import WebCustomer

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-signing-secret"
CUSTOMER, DM = "U0LONG", "D0LONG"
# Over SudachiPy's 49,149-byte limit (3 bytes a character), ending with a real question.
LONG_STORY = "先週注文した商品のことで、長くなりますがご説明します。" * 800 + "送料はいくらですか？"


@pytest.fixture(scope="module")
def library() -> FaqLibrary:
    return FaqLibrary(ROOT / "faq_data")


def well_formed(decision: Decision) -> bool:
    scores = [c.score for c in decision.candidates]
    return (
        decision.outcome in set(Outcome)
        and len(decision.candidates) <= 3
        and scores == sorted(scores, reverse=True)
        and all(0.0 <= s <= 1.0 for s in scores)
        and (decision.outcome is Outcome.NONE or bool(decision.candidates))
    )


@hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.text(max_size=300)
    | st.text(alphabet=st.characters(categories=["So", "Sk", "Zs", "Cf", "Mn"]), max_size=50)
    | st.lists(
        st.sampled_from(["送料", "shipping", "😀", "ﾎﾟｲﾝﾄ", "?", "\n", "ｗｗ"]), max_size=40
    ).map("".join)
)
def test_the_matcher_always_decides_and_never_raises(library: FaqLibrary, text: str) -> None:
    # The matcher itself, not the library's safety net: it must not raise at all.
    assert well_formed(library.matcher.decide(text))


@pytest.mark.parametrize(
    "text",
    [
        LONG_STORY,
        "😀🙏🎉",  # emoji only
        "！？…　、。",  # empty after normalisation
        "すみません",  # only filler
        "Shippingの料金はいくら?ですか",  # mixed scripts
        "\u200b\u200d\ufeff",  # invisible characters
    ],
)
def test_hard_messages_get_a_decision(library: FaqLibrary, text: str) -> None:
    assert well_formed(library.matcher.decide(text))


def test_a_very_long_message_is_still_read_for_its_question(library: FaqLibrary) -> None:
    decision = library.matcher.decide(LONG_STORY)
    assert decision.best is not None and decision.best.entry.id == "shipping-fee"


@pytest.fixture
async def http(app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as client:
        yield client


@pytest.mark.parametrize(
    "text", ["😀🙏🎉", "！？…　、。", "Shippingの料金はいくら?ですか", "\u200b\u200d"]
)
async def test_hard_messages_get_a_reply_on_the_web(http: httpx.AsyncClient, text: str) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")  # greeting
    assert (await customer.say(text)).status_code == 202
    reply = await customer.next_from("bot")
    assert reply["kind"] in ("answer", "suggest", "fallback"), reply


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(SECRET)
    await fake.start()
    fake.add_user(CUSTOMER, "Tanaka")
    yield fake
    await fake.stop()


@pytest.fixture
async def served(make_settings: Callable[..., Settings], slack: FakeSlack) -> AsyncIterator[Any]:
    async with serve_with_slack(make_settings(), slack, "C0DESK") as running:
        yield running


async def test_a_20000_character_slack_dm_is_answered_not_dead_lettered(
    served: SlackTestApp, slack: FakeSlack
) -> None:
    assert len(LONG_STORY) > 19_000
    await slack.user_says(CUSTOMER, LONG_STORY, DM)
    [reply] = await slack.wait_for(lambda: slack.posts(DM), what="a reply to the long DM")
    assert "550" in reply.args["text"]
    assert await served.runtime.redis.xlen(served.runtime.keys.inbox_dead()) == 0

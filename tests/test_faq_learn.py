"""Learning from customers: the examples recorded in conversations, the proposal made of
them, and `tsunagu faq learn` / `faq check` / `--apply` as an admin uses them."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import pytest
import redis.asyncio as aioredis
import yaml
from click.testing import CliRunner, Result
from fastapi import FastAPI, Header, HTTPException

from bot.composition.app import create_app
from bot.composition.runtime import Runtime
from bot.faq import FaqLibrary, Outcome, load_faq_dir
from bot.faq.commands import faq
from bot.faq.learn import learn
from bot.faq.proposal import FaqProposal
from bot.forget import forget_customer
from bot.records import (
    AgentAnswered,
    AgentSuggestion,
    ConversationRecord,
    FaqChoice,
    FaqRejected,
    HelpFeedback,
    HelpSearch,
    Record,
    RecordStore,
    UnansweredMessage,
)
from bot.reports.admin import build_admin_router
from bot.reports.commands import report
from bot.reports.compute import period_for_days
from bot.reports.seed import seed_demo
from bot.reports.source import learn_from_store
from bot.serving import serve_in_loop
from bot.settings import Settings
from bot.storage import Keys
from channels.registry import channel_catalog
from tests.conftest import REDIS_URL, ROOT, RunningApp
from tests.eventually import eventually
from tests.webclient import WebCustomer

DEMO_CHANNELS = channel_catalog().names

SAMPLE = ROOT / "faq_data"
SATO = {"Authorization": "Bearer tok-sato"}
VAGUE = ["支払い", "注文について", "配送", "アカウント", "商品について", "order", "payment"]


@pytest.fixture(scope="module")
def library() -> FaqLibrary:
    return FaqLibrary(SAMPLE)


# --- The flow records each example once ------------------------------------------------


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningApp]:
    """The app with an agent console, served on a free port."""
    settings = make_settings(admin_token="admin-secret", agent_tokens={"Sato": "tok-sato"})
    rt = Runtime(settings)
    async with serve_in_loop(create_app(settings, runtime=rt)) as base_url:
        yield RunningApp(rt, base_url)
    await rt.redis.aclose()


@pytest.fixture
async def http(app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as client:
        yield client


async def records_of(app: RunningApp, kind: type[Record]) -> list[Record]:
    """Every record of one kind the app has stored."""
    return [r async for r in app.runtime.records.read(kind)]


async def test_a_tapped_choice_is_recorded_once_with_the_customers_words(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    vague = next(t for t in VAGUE if app.runtime.faq.decide(t).outcome is Outcome.SUGGEST)
    customer = await WebCustomer.start(http)
    greeting = await customer.next_from("bot")
    # A topic button of the greeting labels nothing: no question was typed.
    await customer.tap(greeting["choices"][0])
    await customer.next_from("bot", kind="answer")
    await customer.say(vague)
    suggestion = await customer.next_from("bot", kind="suggest")
    offered = [c for c in suggestion["choices"] if c["payload"].startswith("faq:")]
    tap = {"choice": offered[-1]["payload"], "label": offered[-1]["label"], "client_id": "tap-1"}
    for _ in range(2):  # the widget retries: same client id, same event
        response = await http.post("/web/messages", json=tap, headers=customer.auth)
        assert response.status_code == 202
    await customer.next_from("bot", kind="answer")
    # A second tap among the same choices says the first was wrong: not a label.
    await customer.tap(offered[0])
    await customer.next_from("bot", kind="answer")
    solved = await customer.next_from("bot")
    await customer.tap(next(c for c in solved["choices"] if c["payload"] == "helpful:no"))
    await customer.next_from("bot", kind="fallback")

    choices = await records_of(app, FaqChoice)
    assert [(c.question, c.faq_id) for c in choices] == [(vague, offered[-1]["payload"][4:])]
    assert choices[0].offered == [c["payload"][4:] for c in offered]
    assert choices[0].customer_key == f"web:{customer.user_id}"
    # Rejecting the second answer rejects it for the words the customer typed.
    rejected = await records_of(app, FaqRejected)
    assert [(r.faq_id, r.question) for r in rejected] == [(offered[0]["payload"][4:], vague)]


async def test_not_solved_is_recorded_once_against_the_answer(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say("送料はいくらですか？")
    await customer.next_from("bot", kind="answer")
    solved = await customer.next_from("bot")
    no = next(c for c in solved["choices"] if c["payload"] == "helpful:no")
    body = {"choice": no["payload"], "label": no["label"], "client_id": "no-1"}
    for _ in range(2):
        assert (await http.post("/web/messages", json=body, headers=customer.auth)).status_code
    await customer.next_from("bot", kind="fallback")
    await customer.tap(no)  # pressed again later: nothing is answered any more
    await customer.next_from("bot")

    rejected = await records_of(app, FaqRejected)
    assert [(r.faq_id, r.question) for r in rejected] == [("shipping-fee", "送料はいくらですか？")]


async def test_the_agents_first_reply_to_unanswered_questions_is_recorded_once(
    app: RunningApp, http: httpx.AsyncClient
) -> None:
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")
    await customer.say("駐車場はありますか？")
    reply = await customer.next_from("bot")
    if reply["kind"] == "suggest":  # (depends on the matcher) none of the choices fits
        await customer.tap(next(c for c in reply["choices"] if c["payload"] == "none"))
        reply = await customer.next_from("bot")
    assert reply["kind"] == "fallback"
    await customer.say("人と話したい")
    await customer.next_from("bot", kind="notice")
    url = f"/agent/api/conversations/{quote(f'web:{customer.user_id}', safe='')}"
    assert (await http.post(f"{url}/claim", headers=SATO)).status_code == 200
    first = {
        "text": "駐車場はございません。近くのコインパーキングをご利用ください。",
        "client_id": "r-1",
    }
    for body in (first, first, {"text": "ほかにご質問はありますか？", "client_id": "r-2"}):
        assert (await http.post(f"{url}/reply", json=body, headers=SATO)).status_code == 200

    answered = await records_of(app, AgentAnswered)
    assert len(answered) == 1
    assert answered[0].questions == ["駐車場はありますか？"]
    assert (answered[0].reply, answered[0].agent) == (first["text"], "Sato")
    assert answered[0].agent_id == "console:Sato"


async def test_forget_erases_the_new_records(redis_client: aioredis.Redis, key_prefix: str) -> None:
    store = RecordStore(redis_client, Keys(key_prefix), retention_days=30)
    for key in ("line:Ugone", "line:Ukept"):
        common: dict[str, Any] = {
            "customer_key": key,
            "channel": "line",
            "conversation_id": f"c-{key}",
        }
        await store.add(
            FaqChoice(question="送料無料？", faq_id="shipping-fee", offered=[], **common)
        )
        await store.add(FaqRejected(faq_id="shipping-fee", question=None, **common))
        await store.add(AgentAnswered(questions=["?"], reply="!", agent="Sato", **common))
    done = await forget_customer(redis_client, Keys(key_prefix), "line:Ugone")
    assert done.records == 3
    assert [r.customer_key async for r in store.read(FaqChoice)] == ["line:Ukept"]
    assert [r.customer_key async for r in store.read(FaqRejected)] == ["line:Ukept"]
    assert [r.customer_key async for r in store.read(AgentAnswered)] == ["line:Ukept"]


# --- The proposal ------------------------------------------------------------------------


def choice(question: str, faq_id: str, n: int = 1) -> list[FaqChoice]:
    return [
        FaqChoice(
            question=question,
            faq_id=faq_id,
            offered=[faq_id],
            customer_key=f"web:u{i}",
            channel="web",
            conversation_id=f"{question}-{i}",
            time=1000.0 + i,
        )
        for i in range(n)
    ]


def rejection(faq_id: str, question: str | None, n: int) -> list[FaqRejected]:
    return [
        FaqRejected(
            faq_id=faq_id,
            question=question,
            customer_key=f"line:u{i}",
            channel="line",
            conversation_id=f"{faq_id}-{i}",
            time=1000.0 + i,
        )
        for i in range(n)
    ]


def answered(faq_id: str, n: int) -> list[ConversationRecord]:
    return [
        ConversationRecord(
            conversation_id=f"a-{faq_id}-{i}",
            customer_key=f"line:a{i}",
            channel="line",
            started_at=900.0,
            ended_at=1000.0,
            resolution="bot",
            faq_answered=[faq_id],
        )
        for i in range(n)
    ]


def unanswered(text: str, n: int, conversation: str = "u") -> list[UnansweredMessage]:
    return [
        UnansweredMessage(
            text=text, channel="web", conversation_id=f"{conversation}{i}", time=1000.0 + i
        )
        for i in range(n)
    ]


def test_learn_proposes_phrasings_rejected_entries_and_drafts(library: FaqLibrary) -> None:
    proposal = learn(
        entries=library.entries,
        choices=[
            *choice("送料無料になる条件は？", "shipping-fee", 3),
            *choice("Is shipping free?", "shipping-fee", 2),
            *choice("送料は いくらですか", "shipping-fee", 4),  # the question itself
            *choice("のしをつけてほしい", "gift-wrapping", 3),  # an alternative already
            *choice("注文番号 20481937 の荷物はどこですか", "tracking", 3),  # personal data
            *choice("Where is my parcel?", "tracking", 1),  # seen once: not yet
            *choice("返金してほしい", "refund-timing", 2),  # split: nobody's majority
            *choice("返金してほしい", "return-policy", 2),
            *choice("大きな箱で届いたのですが" * 6, "shipping-fee", 3),  # a story
        ],
        rejections=[
            *rejection("refund-timing", "返金はまだですか", 4),
            *rejection("refund-timing", None, 2),
            *rejection("shipping-fee", "送料は？", 3),  # 3 of 30: fine
        ],
        conversations=[*answered("refund-timing", 15), *answered("shipping-fee", 30)],
        unanswered=[
            *unanswered("大阪に店舗はありますか？", 3),
            *unanswered("大阪にお店はありますか", 2, "v"),
            *unanswered("Can I pay with PayPay?", 2, "p"),
            *unanswered("陶器の修理はしてもらえますか", 1, "r"),  # seen once
            *unanswered("送料はいくらですか？", 2, "s"),  # answered by an entry since
        ],
        agent_answers=[
            AgentAnswered(
                questions=["大阪にお店はありますか"],
                reply="大阪には店舗がございません。",
                agent="Sato",
                customer_key="web:x",
                channel="web",
                conversation_id="v0",
                time=1001.0,
            ),
            AgentAnswered(
                questions=["大阪の店舗は？"],
                reply="お電話 075-123-4567 までどうぞ",  # a phone number: left out
                agent="Sato",
                customer_key="web:y",
                channel="web",
                conversation_id="v1",
                time=1002.0,
            ),
        ],
    )
    assert [(p.id, [(a.text, a.seen) for a in p.add]) for p in proposal.alternatives] == [
        ("shipping-fee", [("送料無料になる条件は？", 3), ("Is shipping free?", 2)])
    ]
    [refund] = proposal.rejected
    assert (refund.id, refund.rejected, refund.answered, refund.rate) == (
        "refund-timing",
        6,
        15,
        0.4,
    )
    assert refund.questions == ["返金はまだですか"]
    osaka, paypay = proposal.new
    assert (osaka.question, osaka.alternatives, osaka.seen) == (
        "大阪に店舗はありますか？",
        ["大阪にお店はありますか"],
        5,
    )
    assert osaka.answer == "" and osaka.agent_replies == ["大阪には店舗がございません。"]
    assert (paypay.id, paypay.question, paypay.seen) == ("pay-paypay", "Can I pay with PayPay?", 2)
    assert proposal.items == 2 + 1 + 2


def search(text: str, n: int, outcome: str = "none") -> list[HelpSearch]:
    return [
        HelpSearch(text=text, language="ja", outcome=outcome, time=1000.0 + i)  # type: ignore[arg-type]
        for i in range(n)
    ]


def reader(faq_id: str, i: int, helpful: bool, comment: str | None = None) -> HelpFeedback:
    return HelpFeedback(
        feedback_id=f"{faq_id}-{i}",
        faq_id=faq_id,
        helpful=helpful,
        comment=comment,
        language="ja",
        time=1000.0 + i,
    )


def suggestion(message: str, faq_id: str, outcome: str, i: int = 0) -> AgentSuggestion:
    return AgentSuggestion(
        customer_key=f"web:s{i}",
        conversation_id=f"s{i}",
        channel="web",
        agent="Sato",
        agent_id="console:Sato",
        message=message,
        faq_id=faq_id,
        score=0.4,
        outcome=outcome,  # type: ignore[arg-type]
        time=1000.0 + i,
    )


def test_learn_uses_the_help_center_and_the_agents_suggestions(library: FaqLibrary) -> None:
    proposal = learn(
        entries=library.entries,
        choices=[],
        rejections=[],
        conversations=[],
        unanswered=unanswered("大阪に店舗はありますか？", 1),
        agent_answers=[],
        help_searches=[
            *search("大阪に店舗はありますか？", 2),  # joins the chat message: 3 in all
            *search("ギフト券は使えますか", 1),  # seen once: not yet
            *search("送料", 5, outcome="answer"),  # found something: not a miss
        ],
        help_feedback=[
            # A reader's "no" and, later, the same reader's comment: one answer.
            reader("refund-timing", 0, False),
            reader("refund-timing", 0, False, "銀行振込の場合が書いてない"),
            reader("refund-timing", 1, False, "いつ届くのか知りたい"),
            reader("refund-timing", 2, False, "連絡先 taro@example.com"),  # personal: left out
            reader("refund-timing", 3, True),
            *(reader("shipping-fee", i, i > 0) for i in range(10)),  # 1 of 10: fine
        ],
        agent_suggestions=[
            suggestion("送料って結局いくら？", "shipping-fee", "used", 0),  # one agent suffices
            suggestion("沖縄への送料を教えて", "shipping-fee", "edited", 1),
            suggestion("カード番号 4111111111111111 で払える？", "payment-methods", "used", 2),
            suggestion("返品したい", "refund-timing", "ignored", 3),  # labels nothing
            suggestion("送料はいくらですか？", "shipping-fee", "used", 4),  # the question itself
        ],
    )
    [shipping] = proposal.alternatives
    assert (shipping.id, [(a.text, a.seen, a.agents) for a in shipping.add]) == (
        "shipping-fee",
        [("沖縄への送料を教えて", 0, 1), ("送料って結局いくら？", 0, 1)],
    )
    [refund] = proposal.rejected
    assert (refund.id, refund.rejected, refund.not_helpful, refund.help_answers) == (
        "refund-timing",
        0,
        3,
        4,
    )
    assert refund.help_rate == 0.75
    assert refund.comments == ["いつ届くのか知りたい", "銀行振込の場合が書いてない"]
    [osaka] = proposal.new
    assert (osaka.question, osaka.seen, osaka.help_center) == ("大阪に店舗はありますか？", 3, 2)


# --- The commands --------------------------------------------------------------------------


def _env(key_prefix: str, faq_dir: Path) -> dict[str, str]:
    return {"REDIS_URL": REDIS_URL, "KEY_PREFIX": key_prefix, "FAQ_DIR": str(faq_dir), "TZ": "UTC"}


async def test_learn_check_and_apply_as_an_admin_would(
    redis_client: aioredis.Redis, key_prefix: str, tmp_path: Path
) -> None:
    faq_dir = tmp_path / "faq_data"
    shutil.copytree(SAMPLE, faq_dir)
    original = (faq_dir / "shop.yaml").read_text(encoding="utf-8")
    store = RecordStore(redis_client, Keys(key_prefix), retention_days=30)
    now = time.time()
    for record in [
        *choice("送料無料になる条件は？", "shipping-fee", 3),
        *choice("荷物が今どこにあるか知りたい", "tracking", 2),
    ]:
        await store.add(record.model_copy(update={"time": now - 60}), at=now - 60)
    for message in [
        *unanswered("大阪に店舗はありますか？", 3),
        *unanswered("Can I pay with PayPay?", 2),
    ]:
        await store.add(message.model_copy(update={"time": now - 30}), at=now - 30)
    proposal_file = tmp_path / "proposal.yaml"
    env = _env(key_prefix, faq_dir)

    async def run(*args: str) -> Result:
        # The command runs its own event loop: give it a thread of its own.
        return await asyncio.to_thread(CliRunner().invoke, faq, list(args), env=env)

    out = await run("learn", "--days", "7", "--out", str(proposal_file))
    assert out.exit_code == 0, out.output
    assert "FAQ proposal from the last 7 days" in out.output and ": 4 items" in out.output
    assert "+ 送料無料になる条件は？  (seen 3×)" in out.output
    assert "大阪に店舗はありますか？  (3 messages)" in out.output
    assert f"tsunagu faq learn --apply {proposal_file}" in out.output
    summary = await asyncio.to_thread(CliRunner().invoke, report, ["--days", "7"], env=env)
    assert "FAQ proposals waiting: 4 (2 new phrasings, 0 often rejected answers, 2 new entry" in (
        summary.output
    )
    again = await run("learn", "--days", "7", "--out", str(proposal_file))
    assert again.exit_code != 0 and "exists" in again.output  # a reviewed file is never lost

    # The drafts have no answer yet: check says so, and --apply changes nothing.
    checked = await run("check", str(proposal_file))
    assert checked.exit_code == 1
    assert "new[0].answer: write the answer before applying (or delete this draft)" in (
        checked.output
    )
    refused = await run("learn", "--apply", str(proposal_file))
    assert refused.exit_code == 1 and "Nothing was changed." in refused.output
    assert (faq_dir / "shop.yaml").read_text(encoding="utf-8") == original
    assert not list(faq_dir.glob("*.bak-*"))

    # The admin answers one draft and deletes the other.
    text = proposal_file.read_text(encoding="utf-8")
    text = text.replace("answer: ''", "answer: 大阪に店舗はございません。京都の本店のみです。", 1)
    text = text[: text.index("- id: pay-paypay")]
    proposal_file.write_text(text, encoding="utf-8")
    checked = await run("check", str(proposal_file))
    assert checked.exit_code == 0, checked.output
    assert "OK: the proposal adds 2 alternatives to 2 entries and 1 new entry" in checked.output
    assert "the merged FAQ has 35 entries" in checked.output

    library = FaqLibrary(faq_dir)
    applied = await run("learn", "--apply", str(proposal_file))
    assert applied.exit_code == 0, applied.output
    assert "Merged 2 alternatives and 1 new entry into the FAQ." in applied.output
    [backup] = faq_dir.glob("shop.yaml.bak-*")
    assert backup.read_text(encoding="utf-8") == original
    merged = (faq_dir / "shop.yaml").read_text(encoding="utf-8")
    assert merged.startswith(original.splitlines()[0])  # the admin's comments stay
    assert "# Edit freely" in merged and "note:" not in applied.output
    assert (await run("check", str(faq_dir))).exit_code == 0

    # The running bot's reload serves the merged FAQ.
    assert library.reload()
    osaka = library.entry("new-entry")
    assert osaka is not None and osaka.answer == "大阪に店舗はございません。京都の本店のみです。"
    assert "送料無料になる条件は？" in (library.entry("shipping-fee") or osaka).alternatives
    assert library.decide("大阪に店舗はありますか？").best.entry.id == "new-entry"  # type: ignore[union-attr]

    # What was applied is no longer proposed; the deleted draft still is.
    proposal_file.unlink()
    after = await run("learn", "--days", "7", "--out", str(proposal_file))
    assert after.exit_code == 0, after.output
    assert ": 1 items" in after.output and "Can I pay with PayPay?" in after.output


async def test_learn_command_shows_the_help_center_and_agents_evidence(
    redis_client: aioredis.Redis, key_prefix: str, tmp_path: Path
) -> None:
    faq_dir = tmp_path / "faq_data"
    shutil.copytree(SAMPLE, faq_dir)
    store = RecordStore(redis_client, Keys(key_prefix), retention_days=30)
    now = time.time()
    records: list[Any] = [
        *search("大阪に店舗はありますか？", 3),
        *(reader("refund-timing", i, False, "銀行振込の場合が書いてない") for i in range(3)),
        suggestion("送料って結局いくら？", "shipping-fee", "used"),
    ]
    for record in records:
        await store.add(record.model_copy(update={"time": now - 60}), at=now - 60)
    proposal_file = tmp_path / "proposal.yaml"
    out = await asyncio.to_thread(
        CliRunner().invoke,
        faq,
        ["learn", "--days", "7", "--out", str(proposal_file)],
        env=_env(key_prefix, faq_dir),
    )
    assert out.exit_code == 0, out.output
    assert ": 3 items" in out.output
    assert "+ 送料って結局いくら？  (agents answered it 1×)" in out.output
    assert "3 of 3 help-center readers not helped (100%)" in out.output
    assert "reader: 銀行振込の場合が書いてない" in out.output
    assert "大阪に店舗はありますか？  (3 messages, 3 from the help center)" in out.output
    written = FaqProposal.model_validate(yaml.safe_load(proposal_file.read_text("utf-8")))
    assert written.new[0].help_center == 3 and written.rejected[0].not_helpful == 3


async def test_apply_refuses_a_proposal_that_no_longer_fits(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq_data"
    shutil.copytree(SAMPLE, faq_dir)
    proposal = tmp_path / "p.yaml"
    proposal.write_text(
        "kind: tsunagu-faq-proposal\n"
        "alternatives:\n  - id: gone-entry\n    add:\n      - text: どこ？\n"
        "new:\n  - id: shipping-fee\n    question: 送料は？\n    answer: 無料です\n"
        "    answr: typo\n",
        encoding="utf-8",
    )
    out = CliRunner().invoke(faq, ["learn", "--apply", str(proposal), "--faq-dir", str(faq_dir)])
    assert out.exit_code == 1 and "new[0].answr: Extra inputs are not permitted" in out.output
    proposal.write_text(proposal.read_text().replace("    answr: typo\n", ""), encoding="utf-8")
    out = CliRunner().invoke(faq, ["check", str(proposal), "--faq-dir", str(faq_dir)])
    assert out.exit_code == 1
    assert "p.yaml:3: alternatives[0].id: no FAQ entry 'gone-entry'" in out.output
    assert "p.yaml:7: new[0].id: id 'shipping-fee' is taken" in out.output
    assert len(load_faq_dir(faq_dir).entries) == 34 and not list(faq_dir.glob("*.bak-*"))


ADMIN = {"Authorization": "Bearer admin-secret"}


def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
    """The simplest stand-in for the console's admin-token check."""
    if authorization != ADMIN["Authorization"]:
        raise HTTPException(401, "admin token required")


async def test_admin_counts_the_proposals_waiting_on_demo_data(
    redis_client: aioredis.Redis, key_prefix: str, library: FaqLibrary
) -> None:
    records = RecordStore(redis_client, Keys(key_prefix), retention_days=400)
    await seed_demo(records, channels=DEMO_CHANNELS, days=30, seed=0)
    app = FastAPI()
    app.include_router(build_admin_router(records, library, require_admin))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
        response = await client.get("/admin/api/report?days=30", headers=ADMIN)
        download = await client.get("/admin/api/faq-proposal.yaml?days=30", headers=ADMIN)
        refused = await client.get("/admin/api/faq-proposal.yaml?days=30")
    assert response.status_code == 200 and refused.status_code == 401
    waiting = response.json()["faq_proposals"]
    proposal = await learn_from_store(records, library, period_for_days(30))
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    downloaded = FaqProposal.model_validate(yaml.safe_load(download.text))
    unbounded = {"since": None, "until": None}  # "until" is the moment of each request
    assert downloaded.model_copy(update=unbounded) == proposal.model_copy(update=unbounded)
    assert waiting == {
        "waiting": proposal.items,
        "alternatives": sum(len(a.add) for a in proposal.alternatives),
        "rejected": len(proposal.rejected),
        "drafts": len(proposal.new),
        "command": "tsunagu faq learn --days 30",
    }
    # The demo shows every part: phrasings, the answers customers reject most, drafts.
    assert {a.id for a in proposal.alternatives} >= {"shipping-fee", "tracking"}
    assert {r.id for r in proposal.rejected} <= {"refund-timing", "cancel-order"}
    assert proposal.rejected and len(proposal.new) >= 3
    assert any(draft.agent_replies for draft in proposal.new)
    texts = [a.text for item in proposal.alternatives for a in item.add]
    assert "のしをつけてほしい" not in texts  # already an alternative of gift-wrapping
    assert not any("20481937" in text for text in texts)  # an order number


async def test_a_running_bot_serves_an_applied_proposal(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq_data"
    faq_dir.mkdir()
    shutil.copy(SAMPLE / "shop.yaml", faq_dir / "shop.yaml")
    proposal = tmp_path / "p.yaml"
    proposal.write_text(
        "kind: tsunagu-faq-proposal\n"
        "new:\n  - id: parking\n    question: 駐車場はありますか？\n    answer: 5台分あります。\n",
        encoding="utf-8",
    )
    library = FaqLibrary(faq_dir)
    stop = asyncio.Event()
    watcher = asyncio.create_task(library.watch(stop))
    await asyncio.to_thread(
        CliRunner().invoke, faq, ["learn", "--apply", str(proposal), "--faq-dir", str(faq_dir)]
    )
    saved_at = time.monotonic()

    def picked_up() -> bool:
        # The files are saved again now and then, unchanged: a save before the watcher
        # started is not an event it sees.
        nonlocal saved_at
        if library.entry("parking"):
            return True
        if time.monotonic() - saved_at > 1.0:
            for path in faq_dir.glob("*.y*ml"):
                path.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
            saved_at = time.monotonic()
        return False

    await eventually(picked_up, what="the watcher serves the applied proposal")
    stop.set()
    await asyncio.wait_for(watcher, timeout=5)
    assert library.entry("parking") is not None


def test_a_file_that_cannot_be_edited_in_place_is_rewritten_and_says_so(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq_data"
    faq_dir.mkdir()
    original = (
        "# Our FAQ\nfaqs:\n"
        "  - {id: fee, question: 送料は？, alternatives: [送料を知りたい], answer: 550円}\n"
        "  - id: hours\n    question: 営業時間は？   # the shop's\n    answer: 10時から\n"
    )
    (faq_dir / "a.yaml").write_text(original, encoding="utf-8")
    proposal = tmp_path / "p.yaml"
    proposal.write_text(
        "kind: tsunagu-faq-proposal\nalternatives:\n"
        "  - id: fee\n    add: [{text: 送料無料になる条件は？, seen: 3}]\n"
        "  - id: hours\n    add: [{text: 'お店は何時から: 開店時間', seen: 2}]\n",
        encoding="utf-8",
    )
    out = CliRunner().invoke(faq, ["learn", "--apply", str(proposal), "--faq-dir", str(faq_dir)])
    assert out.exit_code == 0, out.output
    assert "note: " in out.output and "comments are only in the backup" in out.output
    [backup] = faq_dir.glob("a.yaml.bak-*")
    assert backup.read_text(encoding="utf-8") == original
    entries = {e.id: e for e in load_faq_dir(faq_dir).entries}
    assert entries["fee"].alternatives == ["送料を知りたい", "送料無料になる条件は？"]
    assert entries["hours"].alternatives == ["お店は何時から: 開店時間"]


def test_an_entry_without_alternatives_gets_them_under_its_question(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq_data"
    faq_dir.mkdir()
    (faq_dir / "a.yaml").write_text(
        "faqs:\n  - id: hours\n    question: 営業時間は？   # the shop's\n    answer: 10時から\n",
        encoding="utf-8",
    )
    proposal = tmp_path / "p.yaml"
    proposal.write_text(
        "kind: tsunagu-faq-proposal\nalternatives:\n"
        "  - id: hours\n    add: [{text: 'お店は何時から: 開店時間', seen: 2}]\n",
        encoding="utf-8",
    )
    out = CliRunner().invoke(faq, ["learn", "--apply", str(proposal), "--faq-dir", str(faq_dir)])
    assert out.exit_code == 0 and "note:" not in out.output, out.output
    assert (faq_dir / "a.yaml").read_text(encoding="utf-8") == (
        "faqs:\n  - id: hours\n    question: 営業時間は？   # the shop's\n"
        "    alternatives:\n      - 'お店は何時から: 開店時間'\n    answer: 10時から\n"
    )

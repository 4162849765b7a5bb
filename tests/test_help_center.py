"""The help center over real HTTP: pages, caching, languages, search, feedback, reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.faq import FaqLibrary, Outcome
from bot.helpcenter import HelpCenter
from bot.helpcenter.language import negotiate
from bot.helpcenter.store import HelpCenterStore
from bot.limits import RateLimiter
from bot.records import HelpFeedback, HelpSearch, RecordStore
from bot.reports.commands import report as report_command
from bot.settings import Settings
from bot.storage import Keys
from bot.texts import Texts
from tests.conftest import REDIS_URL, ROOT, RunningApp
from tests.webclient import WebCustomer

ADMIN = "help-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
VAGUE = ["order", "注文について", "配送", "商品について", "支払い", "アカウント"]
HOSTILE_FAQ = """
faqs:
  - id: gift-wrapping
    question: ギフト包装はできますか？
    alternatives: ["Do you offer gift wrapping?"]
    answer:
      ja: "はい。</script><script>alert(1)</script> & <b>無料</b>です。"
      en: "Yes. </script><img src=x onerror=alert(1)> & it is free."
    tags: [order, top]
"""


class Page(HTMLParser):
    """The parts of a page a test looks at: elements by tag, JSON-LD, links, text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.json_ld: list[Any] = []
        self._in_ld = False
        self._ld = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_ld = tag == "script" and dict(attrs).get("type") == "application/ld+json"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_ld:
            self.json_ld.append(json.loads(self._ld))
            self._in_ld, self._ld = False, ""

    def handle_data(self, data: str) -> None:
        if self._in_ld:
            self._ld += data

    def has(self, tag: str, **attrs: str) -> bool:
        return any(t == tag and all(a.get(k) == v for k, v in attrs.items()) for t, a in self.tags)

    def links(self) -> list[str]:
        return [a["href"] or "" for t, a in self.tags if t == "a" and a.get("href")]


@pytest.fixture
async def start(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Any]]:
    """Serve the app with settings overrides and give an HTTP client on it."""
    async with contextlib.AsyncExitStack() as stack:

        async def run(**overrides: Any) -> tuple[httpx.AsyncClient, RunningApp]:
            running: RunningApp = await serve_app(make_settings(admin_token=ADMIN, **overrides))
            client = httpx.AsyncClient(base_url=running.base_url, timeout=10)
            await stack.enter_async_context(client)
            return client, running

        yield run


@pytest.fixture
async def http(start: Callable[..., Any]) -> httpx.AsyncClient:
    """A client of the app with the default help center."""
    client, _ = await start()
    return client


async def report(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/admin/api/report", params={"days": 7}, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- pages -----------------------------------------------------------------------------------


async def test_index_groups_entries_by_topic_with_landmarks_and_a_labelled_search(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/help")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = Page(page.text)
    assert html.has("html", lang="ja")
    for landmark in ("header", "main", "footer"):
        assert html.has(landmark), landmark
    assert html.has("form", role="search") and html.has("label", **{"for": "q"})
    assert html.has("input", id="q", name="q", type="search")
    assert html.has("meta", name="viewport", content="width=device-width, initial-scale=1")
    assert '<h2 id="topics">カテゴリ別の質問</h2>' in page.text
    assert ">配送・送料</h3>" in page.text and ">お支払い</h3>" in page.text
    assert "/help/shipping-fee?lang=ja" in html.links()
    # No script is needed to read it: every answer is in the page itself.
    assert "送料は全国一律550円です" in page.text


async def test_language_from_the_query_then_accept_language(http: httpx.AsyncClient) -> None:
    english = await http.get("/help/shipping-fee", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert Page(english.text).has("html", lang="en")
    assert "How much is shipping?" in english.text and "flat 550 yen" in english.text
    assert english.headers["vary"] == "Accept-Language"
    japanese = await http.get(
        "/help/shipping-fee", params={"lang": "ja"}, headers={"Accept-Language": "en"}
    )
    assert "送料はいくらですか？" in japanese.text and Page(japanese.text).has("html", lang="ja")
    unknown = await http.get("/help/shipping-fee", params={"lang": "fr"})
    assert Page(unknown.text).has("html", lang="ja")  # unsupported: the default


def test_accept_language_weights_decide() -> None:
    assert negotiate(None, "fr-FR, en;q=0.8, ja;q=0.5") == "en"
    assert negotiate(None, "en;q=0.4, ja-JP;q=0.9") == "ja"
    assert negotiate(None, "de, fr") == "ja"
    assert negotiate(None, "en;q=abc, en-GB") == "en"
    assert negotiate("EN-us", "ja") == "en"
    assert negotiate(None, None) == "ja"


async def test_pages_carry_an_etag_and_answer_304_when_unchanged(http: httpx.AsyncClient) -> None:
    first = await http.get("/help/shipping-fee?lang=en")
    etag = first.headers["etag"]
    # No PUBLIC_BASE_URL here: the pages name the Host, so only the reader may keep them.
    assert first.headers["cache-control"] == "private, max-age=60"
    again = await http.get("/help/shipping-fee?lang=en", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await http.get("/help/shipping-fee?lang=ja", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    index = await http.get("/help?lang=en")
    assert (
        await http.get("/help?lang=en", headers={"If-None-Match": f"W/{index.headers['etag']}"})
    ).status_code == 304


async def test_entry_page_embeds_faq_page_json_ld(http: httpx.AsyncClient) -> None:
    page = await http.get("/help/shipping-fee?lang=en")
    (data,) = Page(page.text).json_ld
    assert data["@context"] == "https://schema.org" and data["@type"] == "FAQPage"
    (question,) = data["mainEntity"]
    assert question["@type"] == "Question" and question["name"] == "How much is shipping?"
    assert question["acceptedAnswer"]["@type"] == "Answer"
    assert question["acceptedAnswer"]["text"].startswith("Shipping is a flat 550 yen")
    assert data["url"].endswith("/help/shipping-fee?lang=en")
    index = Page((await http.get("/help")).text).json_ld[0]
    assert index["@type"] == "FAQPage" and len(index["mainEntity"]) > 20


async def test_markup_in_the_faq_stays_text_in_pages_and_json_ld(
    start: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "faq.yaml").write_text(HOSTILE_FAQ, encoding="utf-8")
    client, _ = await start(faq_dir=tmp_path)
    for lang, needle in (("ja", "<b>無料</b>"), ("en", "<img src=x onerror=alert(1)>")):
        page = await client.get(f"/help/gift-wrapping?lang={lang}")
        assert needle not in page.text and "<script>alert" not in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        parsed = Page(page.text)
        assert not parsed.has("img") and not parsed.has("b")
        (data,) = parsed.json_ld  # still parses: the answer did not close the element
        assert needle in data["mainEntity"][0]["acceptedAnswer"]["text"]
    search = await client.get("/help", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in search.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in search.text


async def test_unknown_entry_is_a_404_page_with_the_search(http: httpx.AsyncClient) -> None:
    page = await http.get("/help/no-such-entry?lang=en")
    assert page.status_code == 404 and "find that article" in page.text
    assert Page(page.text).has("form", role="search")


async def test_sitemap_lists_every_entry_in_both_languages(http: httpx.AsyncClient) -> None:
    response = await http.get("/help/sitemap.xml")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/xml"
    )
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.fromstring(response.content)
    locs = [loc.text or "" for loc in root.findall("s:url/s:loc", ns)]
    entries = (await http.get("/readyz")).json()["faq_entries"]
    assert len(locs) == 2 * (entries + 1)
    root_url = str(http.base_url).rstrip("/")
    assert f"{root_url}/help/shipping-fee?lang=en" in locs
    assert all(loc.startswith(root_url + "/help") for loc in locs)
    assert (await http.head("/help/sitemap.xml")).status_code == 200


# --- search ----------------------------------------------------------------------------------


async def test_search_finds_the_entry_in_japanese_kana_and_english(
    http: httpx.AsyncClient,
) -> None:
    for query in ("送料っていくら？", "そうりょうはいくら", "how much is postage"):
        page = await http.get("/help", params={"q": query})
        assert page.status_code == 200
        results = re.findall(r'<ol class="results">.*?</ol>', page.text, re.DOTALL)
        assert results, query
        first = re.search(r'href="([^"]+)"', results[0])
        assert first and first.group(1).startswith("/help/shipping-fee"), (query, first)
        assert page.headers["cache-control"] == "private, no-store"


async def test_unsure_search_says_did_you_mean(start: Callable[..., Any]) -> None:
    client, running = await start()
    # Whichever of these the current FAQ finds ambiguous (the matcher evolves).
    faq = running.runtime.faq
    vague = next(q for q in VAGUE if faq.decide(q).outcome is Outcome.SUGGEST)
    choices = [s.entry.id for s in faq.decide(vague).candidates]
    page = await client.get("/help", params={"q": vague, "lang": "en"})
    assert f"Not sure what “{vague}” is about. Did you mean one of these?" in page.text
    links = [link for link in Page(page.text).links() if link.startswith("/help/")]
    assert links[: len(choices)] == [f"/help/{c}?lang=en" for c in choices]


async def test_search_with_no_result_offers_the_chat_and_joins_unanswered(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/help", params={"q": "xyzzy plugh", "lang": "en"})
    assert "No article matches “xyzzy plugh”" in page.text
    assert 'data-ask="xyzzy plugh"' in page.text and "Talk to a person" in page.text
    figures = await report(http)
    groups = [g for g in figures["unanswered"] if g["text"] == "xyzzy plugh"]
    assert groups and groups[0]["channels"] == {"help": 1}
    assert figures["unanswered_total"] == 1
    assert figures["help_center"]["searches"] == 1
    assert figures["help_center"]["searches_without_result"] == 1


async def test_overlong_search_is_refused_clearly(http: httpx.AsyncClient) -> None:
    response = await http.get("/help", params={"q": "あ" * 201})
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "query.q"


# --- feedback --------------------------------------------------------------------------------


async def test_no_then_a_comment_counts_once_with_the_comment_on_admin(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        assert (await http.get("/help/shipping-fee")).status_code == 200
    crawler = {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    assert (await http.get("/help/shipping-fee", headers=crawler)).status_code == 200
    head = await http.head("/help/shipping-fee")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]
    no = await http.post("/help/shipping-fee/feedback", json={"helpful": False})
    assert no.status_code == 201
    feedback_id = no.json()["feedback_id"]
    comment = {"helpful": False, "comment": "海外への送料も知りたい", "feedback_id": feedback_id}
    assert (await http.post("/help/shipping-fee/feedback", json=comment)).status_code == 201
    yes = await http.post("/help/shipping-fee/feedback", json={"helpful": True, "comment": ""})
    assert yes.status_code == 201
    section = (await report(http))["help_center"]
    assert section["views"] == 3 and section["feedback"] == 2 and section["helpful_share"] == 0.5
    (row,) = [e for e in section["entries"] if e["faq_id"] == "shipping-fee"]
    assert (row["views"], row["helpful"], row["not_helpful"]) == (3, 1, 1)
    assert [c["comment"] for c in row["comments"]] == ["海外への送料も知りたい"]
    assert row["question"] == "送料はいくらですか？" and "ces_mean" in row


async def test_html_form_feedback_redirects_back_to_the_page(http: httpx.AsyncClient) -> None:
    no = await http.post("/help/tracking/feedback?lang=en", content=b"helpful=false", headers=FORM)
    assert no.status_code == 303
    location = no.headers["location"]
    assert location.startswith("/help/tracking?lang=en&feedback=no&fid=")
    assert location.endswith("#feedback")
    fid = re.search(r"fid=([0-9a-f]{32})", location)
    assert fid
    ask = await http.get(location.split("#")[0])
    assert ask.headers["cache-control"] == "private, no-store"
    assert f'name="feedback_id" value="{fid.group(1)}"' in ask.text
    body = f"helpful=false&feedback_id={fid.group(1)}&comment=no+tracking+number".encode()
    thanks = await http.post("/help/tracking/feedback?lang=en", content=body, headers=FORM)
    assert thanks.status_code == 303 and "feedback=thanks" in thanks.headers["location"]
    (row,) = (await report(http))["help_center"]["entries"]
    assert row["not_helpful"] == 1 and row["comments"][0]["comment"] == "no tracking number"


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"[true]", {"Content-Type": "application/json"}, 400, "expected a JSON object"),
        (b'{"comment": "x"}', {"Content-Type": "application/json"}, 422, "helpful"),
        (b'{"helpful": "yes"}', {"Content-Type": "application/json"}, 422, "helpful"),
        (b'{"helpful": false, "helpfull": 1}', {"Content-Type": "application/json"}, 422, ""),
        (
            json.dumps({"helpful": False, "comment": "長" * 1001}).encode(),
            {"Content-Type": "application/json"},
            422,
            "comment",
        ),
        (
            b'{"helpful": false, "feedback_id": "../x"}',
            {"Content-Type": "application/json"},
            422,
            "",
        ),
        (b"helpful=maybe", FORM, 422, "helpful"),
        (b"helpful=true", {"Content-Type": "text/plain"}, 415, "application/json"),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    ],
)
async def test_bad_feedback_gets_a_clear_error_and_records_nothing(
    http: httpx.AsyncClient, body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    response = await http.post("/help/shipping-fee/feedback", content=body, headers=headers)
    assert response.status_code == status, response.text
    answer = response.json()
    assert says in json.dumps(answer, ensure_ascii=False)
    if status == 422:
        assert answer["detail"] == "invalid feedback" and answer["problems"]
    assert (await report(http))["help_center"]["feedback"] == 0


async def test_feedback_on_an_unknown_entry_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/help/nothing-here/feedback", json={"helpful": True})
    assert response.status_code == 404 and "nothing-here" in response.json()["detail"]


async def test_feedback_is_rate_limited_per_address(start: Callable[..., Any]) -> None:
    client, _ = await start(help_feedback_rate_limit_per_minute=2)
    for _ in range(2):
        ok = await client.post("/help/shipping-fee/feedback", json={"helpful": True})
        assert ok.status_code == 201
    refused = await client.post("/help/shipping-fee/feedback", json={"helpful": True})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "at most 2 feedback answers" in refused.json()["detail"]
    form = await client.post("/help/shipping-fee/feedback", content=b"helpful=true", headers=FORM)
    assert form.status_code == 429 and form.headers["content-type"].startswith("text/html")
    assert (await report(client))["help_center"]["feedback"] == 2


# --- switches --------------------------------------------------------------------------------


async def test_turned_off_there_is_no_help_center(start: Callable[..., Any]) -> None:
    client, _ = await start(help_center=False)
    assert (await client.get("/help")).status_code == 404
    assert (await client.get("/help/shipping-fee")).status_code == 404
    assert (await client.get("/web/help-center")).status_code == 404
    response = await client.post("/help/shipping-fee/feedback", json={"helpful": True})
    assert response.status_code in (404, 405)
    assert (await report(client))["help_center"] is None


async def test_served_under_another_path(start: Callable[..., Any]) -> None:
    client, _ = await start(help_center_path="/support/faq/")
    assert (await client.get("/help")).status_code == 404
    index = await client.get("/support/faq")
    assert index.status_code == 200
    links = Page(index.text).links()
    assert "/support/faq/shipping-fee?lang=ja" in links
    assert not any(link.startswith("/help") for link in links)
    assert (await client.get("/support/faq/sitemap.xml")).status_code == 200
    assert (await client.get("/support/faq/assets/help.css")).status_code == 200
    widget = (await client.get("/web/help-center?lang=en")).json()
    assert widget["url"] == "/support/faq"
    assert widget["top"][0]["url"].startswith("/support/faq/")


@pytest.mark.parametrize("path", ["/", "", "/admin", "/web/help", "/help?x", "/a b"])
def test_a_help_center_path_that_would_clash_is_refused(
    make_settings: Callable[..., Settings], path: str
) -> None:
    with pytest.raises(ValueError, match="HELP_CENTER_PATH"):
        make_settings(help_center_path=path)


# --- the widget's side -----------------------------------------------------------------------


async def test_widget_gets_top_entries_and_answers_name_their_entry(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        await http.get("/help/return-policy")
    info = (await http.get("/web/help-center", params={"lang": "en"})).json()
    assert info["url"] == "/help" and info["title"] == "Tsunagu Store Help Center"
    assert info["top"][0] == {
        "id": "return-policy",
        "title": "How do I return an item?",
        "url": "/help/return-policy",
    }  # the most read first, then the FAQ's 'top' entries
    assert len(info["top"]) == 5
    customer = await WebCustomer.start(http)
    await customer.next_from("bot")  # the greeting
    await customer.say("送料はいくらですか？")
    answer = await customer.next_from("bot", kind="answer")
    assert answer["faq_id"] == "shipping-fee"
    follow_up = await customer.next_from("bot")
    assert follow_up.get("faq_id") is None


# --- the store -------------------------------------------------------------------------------


async def test_views_are_counted_per_hour_and_read_back_by_period(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    now = [1_800_000_000.0]
    keys = Keys(key_prefix)
    records = RecordStore(redis_client, keys, retention_days=30)
    store = HelpCenterStore(redis_client, keys, records, retention_days=30, clock=lambda: now[0])
    await store.count_view("a")
    now[0] += 3600
    await store.count_view("a")
    await store.count_view("b")
    start = 1_800_000_000.0 - 1_800_000_000.0 % 3600
    assert await store.views(start, start + 3600) == {"a": 1}
    assert await store.views(start, start + 7200) == {"a": 2, "b": 1}
    assert await store.views(start + 7200, start + 9000) == {}
    ttl = await redis_client.ttl(f"{key_prefix}:help:views:{int(start // 3600) + 1}")
    assert 30 * 86_400 < ttl <= 30 * 86_400 + 3600
    await store.record_search(HelpSearch(text="q", language="ja", outcome="none", time=now[0]))
    await store.record_feedback(
        HelpFeedback(feedback_id="f" * 32, faq_id="a", helpful=True, language="ja", time=now[0])
    )
    assert [s.text async for s in records.read(HelpSearch)] == ["q"]
    assert [f.faq_id async for f in records.read(HelpFeedback)] == ["a"]


async def test_cli_report_shows_the_help_center(
    redis_client: aioredis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    keys = Keys(key_prefix)
    records = RecordStore(redis_client, keys, retention_days=30)
    store = HelpCenterStore(redis_client, keys, records, retention_days=30)
    await store.count_view("shipping-fee")
    await store.record_feedback(
        HelpFeedback(
            feedback_id="a" * 32,
            faq_id="shipping-fee",
            helpful=False,
            comment="沖縄は？",
            language="ja",
        )
    )
    await store.record_search(HelpSearch(text="犬の散歩", language="ja", outcome="none"))
    env = {
        "REDIS_URL": REDIS_URL,
        "KEY_PREFIX": key_prefix,
        "FAQ_DIR": str(ROOT / "faq_data"),
        "TZ": "UTC",
    }
    out = await asyncio.to_thread(CliRunner().invoke, report_command, [], env=env)
    assert out.exit_code == 0, out.output
    assert "Help center: 1 views, 1 searches (1 with no result), 1 reader answers" in out.output
    assert '"沖縄は？"' in out.output and "犬の散歩" in out.output


async def test_topic_names_and_page_texts_come_from_the_texts_file(
    start: Callable[..., Any], tmp_path: Path
) -> None:
    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    (faq_dir / "faq.yaml").write_text(
        HOSTILE_FAQ.replace("tags: [order, top]", "tags: [gift]"), encoding="utf-8"
    )
    texts = tmp_path / "texts.yaml"
    texts.write_text(
        "help_tag_gift: {ja: ギフトのご相談, en: Gifts}\nhelp_title: {ja: よくある質問, en: FAQ}\n",
        encoding="utf-8",
    )
    client, _ = await start(faq_dir=faq_dir, texts_file=texts)
    japanese = await client.get("/help")
    assert ">ギフトのご相談</h3>" in japanese.text and "<h1>よくある質問</h1>" in japanese.text
    english = await client.get("/help?lang=en")
    assert ">Gifts</h3>" in english.text and "<title>FAQ</title>" in english.text


# --- hostile input ---------------------------------------------------------------------------

FUZZ = hsettings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120).map(
    str.strip
)  # what HTTP lets through in a header (no space at either end)


async def test_fuzzed_searches_headers_and_feedback_never_get_a_500(
    start: Callable[..., Any],
) -> None:
    client, running = await start(help_feedback_rate_limit_per_minute=0)
    base = running.base_url

    def fuzz() -> None:
        with httpx.Client(base_url=base, timeout=10) as http:

            @FUZZ
            @given(q=st.text(max_size=250), lang=st.text(max_size=40), accept=header_text)
            def pages(q: str, lang: str, accept: str) -> None:
                response = http.get(
                    "/help", params={"q": q, "lang": lang}, headers={"Accept-Language": accept}
                )
                assert response.status_code in (200, 400), response.text

            @FUZZ
            @given(
                body=st.binary(max_size=200)
                | st.dictionaries(
                    st.sampled_from(["helpful", "comment", "feedback_id", "x"]),
                    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                ).map(lambda d: json.dumps(d).encode()),
                media=st.sampled_from([JSON["Content-Type"], FORM["Content-Type"], "text/xml"]),
                entry=st.sampled_from(["shipping-fee", "nope", "a" * 120, "%2e%2e"]),
            )
            def feedback(body: bytes, media: str, entry: str) -> None:
                response = http.post(
                    f"/help/{entry}/feedback", content=body, headers={"Content-Type": media}
                )
                assert response.status_code in (201, 303, 400, 404, 415, 422), response.text

            pages()
            feedback()

    await asyncio.to_thread(fuzz)
    assert (await client.get("/readyz")).status_code == 200


async def test_popular_articles_follow_views_a_minute_later(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    now = [1_800_000_000.0]
    keys = Keys(key_prefix)
    records = RecordStore(redis_client, keys, retention_days=30)
    store = HelpCenterStore(redis_client, keys, records, retention_days=30, clock=lambda: now[0])
    center = HelpCenter(
        FaqLibrary(ROOT / "faq_data"),
        Texts(shop="Shop"),
        store,
        RateLimiter(redis_client, Keys(key_prefix), "help_feedback", 10),
    )
    app = FastAPI()
    app.include_router(center.router)
    app.include_router(center.widget_router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://help.test") as client:

        async def top() -> list[str]:
            body = (await client.get("/web/help-center")).json()
            return [item["id"] for item in body["top"]]

        assert (await top())[0] == "shipping-fee"  # nothing read yet: the 'top' entries
        for _ in range(3):
            assert (await client.get("/help/points-expiry")).status_code == 200
        now[0] += 30
        assert (await top())[0] == "shipping-fee"  # the views are re-read once a minute
        now[0] += 31
        assert (await top())[0] == "points-expiry"

"""The help center's routes: index and search, one page per entry, feedback, sitemap.

Every page is rendered on the server (JavaScript only improves the feedback form and opens
the chat), carries an ETag, and is in Japanese or English by `?lang=` or `Accept-Language`.
"""

from __future__ import annotations

import re
import uuid
from importlib import resources
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.faq import FaqLibrary
from bot.helpcenter.catalog import TOP_TAG, Article, article, popular, topics
from bot.helpcenter.feedback import FEEDBACK_ID, FORM_MEDIA_TYPE, FeedbackError, parse_feedback
from bot.helpcenter.language import negotiate
from bot.helpcenter.pages import PageContext, etag_matches, etag_of, render
from bot.helpcenter.search import MAX_QUERY_CHARS, search
from bot.helpcenter.store import HelpCenterStore
from bot.helpcenter.structured import faq_page_json_ld, sitemap_xml
from bot.limits import RateLimiter, client_ip
from bot.records import HelpFeedback
from bot.texts import HELP_TAG_PREFIX, Texts

STATIC = resources.files("bot.helpcenter").joinpath("static")
ENTRY_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"
POPULAR_DAYS = 30  # "popular" means most read over this many days
POPULAR_SHOWN = 5
# Popularity is read from 30 days of hourly counters: reuse it this long (pages are cached
# for a minute anyway).
POPULAR_REFRESH_SECONDS = 60.0
RELATED_SHOWN = 4
ASSETS = {"help.css": "text/css", "help.js": "text/javascript"}
READ = ["GET", "HEAD"]
# Crawlers read pages to index them; counting them would drown the readers' views.
CRAWLER = re.compile(r"bot|crawl|spider|slurp|preview|fetch", re.IGNORECASE)

PAGE_HEADERS = {
    # The widget styles its own Shadow DOM with a <style> element, hence 'unsafe-inline'
    # for styles only; no inline script runs (JSON-LD is data, not script).
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Vary": "Accept-Language",
}
Lang = Annotated[str | None, Query(max_length=35, description="ja or en; else Accept-Language.")]


class HelpCenter:
    """The help center of one app: its routes, bound to the FAQ, texts and store."""

    def __init__(
        self,
        faq: FaqLibrary,
        texts: Texts,
        store: HelpCenterStore,
        feedback_limit: RateLimiter,
        *,
        path: str = "/help",
        public_base_url: str | None = None,
    ):
        self.faq = faq
        self.texts = texts
        self.store = store
        self.feedback_limit = feedback_limit
        self.path = path
        # Absolute links (canonical, hreflang, JSON-LD, sitemap) name this address. Without
        # it they name the request's own Host, which anyone can set: such pages must not be
        # kept by shared caches, which would hand one client's Host to everybody.
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.shared = "public" if self.public_base_url else "private"
        self._views: tuple[float, dict[str, int]] | None = None  # (read at, views)
        self.router = self._routes()
        self.widget_router = self._widget_routes()

    # --- pieces ---------------------------------------------------------------------------

    def _page(self, request: Request, lang: str | None) -> PageContext:
        language = negotiate(lang, request.headers.get("accept-language"))
        return PageContext(language=language, texts=self.texts, base=self.path)

    def topic_label(self, tag: str, language: str) -> str:
        """The topic's name from the texts (`help_tag_<tag>`), else the tag itself."""
        name = HELP_TAG_PREFIX + tag
        if self.texts.has(name):
            return self.texts.get(name, language)
        return tag.replace("-", " ").replace("_", " ").capitalize()

    def _root(self, request: Request) -> str:
        """The address the help center is reached at: `PUBLIC_BASE_URL`, else the request's."""
        return self.public_base_url or str(request.base_url).rstrip("/")

    def _absolute(self, request: Request, page: str, language: str) -> str:
        return f"{self._root(request)}{self.path}{page}?lang={language}"

    async def _popular(self, language: str) -> list[Article]:
        return popular(self.faq.entries, await self._recent_views(), language, POPULAR_SHOWN)

    async def _recent_views(self) -> dict[str, int]:
        """Views per entry over the last `POPULAR_DAYS`, read again once a minute at most."""
        now = self.store.now()
        if self._views is None or now - self._views[0] >= POPULAR_REFRESH_SECONDS:
            self._views = (now, await self.store.recent_views(POPULAR_DAYS))
        return self._views[1]

    def _related(self, entry_id: str, language: str) -> list[Article]:
        entry = self.faq.entry(entry_id)
        if entry is None:
            return []
        mine = {t for t in entry.tags if t != TOP_TAG}
        near = [e for e in self.faq.entries if e.id != entry_id and mine & set(e.tags)]
        return [article(e, language) for e in near[:RELATED_SHOWN]]

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix=self.path, tags=["help center"])

        @router.get("", response_class=HTMLResponse, summary="Help center: index and search")
        async def index(
            request: Request,
            lang: Lang = None,
            q: Annotated[
                str | None,
                Query(max_length=MAX_QUERY_CHARS, description="What to search for."),
            ] = None,
        ) -> Response:
            """The index grouped by topic, or with `q`, the entries the bot's matcher finds."""
            page = self._page(request, lang)
            query = " ".join((q or "").split())
            if query:
                return await self._search_page(request, page, query)
            body = render(
                "index.html",
                page,
                popular=await self._popular(page.language),
                topics=topics(
                    self.faq.entries,
                    page.language,
                    lambda tag: self.topic_label(tag, page.language),
                ),
                json_ld=faq_page_json_ld(
                    [article(e, page.language) for e in self.faq.entries],
                    page.language,
                    self._absolute(request, "", page.language),
                ),
                canonical=self._absolute(request, "", page.language),
                alternates=self._alternates(request, ""),
            )
            return _cached(request, body, f"{self.shared}, max-age=60")

        router.add_api_route("/", index, methods=READ, include_in_schema=False)

        @router.get("/sitemap.xml", summary="Sitemap of the help center")
        async def sitemap(request: Request) -> Response:
            """Every page of the help center in both languages, for search engines."""
            root = self._root(request) + self.path
            body = sitemap_xml(root, [e.id for e in self.faq.entries], None)
            cache = f"{self.shared}, max-age=300"
            return _cached(request, body, cache, media_type="application/xml")

        @router.api_route("/assets/{name}", methods=READ, include_in_schema=False)
        async def asset(request: Request, name: str) -> Response:
            if name not in ASSETS:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
            body = STATIC.joinpath(name).read_text(encoding="utf-8")
            return _cached(request, body, "public, max-age=300", media_type=ASSETS[name])

        @router.get("/{entry_id}", response_class=HTMLResponse, summary="One help-center entry")
        async def entry_page(
            request: Request,
            entry_id: Annotated[str, Path(max_length=100)],
            lang: Lang = None,
            feedback: Annotated[
                Literal["thanks", "no"] | None,
                Query(description="After a form's answer: thank, or ask for a comment."),
            ] = None,
            fid: Annotated[str | None, Query(pattern=FEEDBACK_ID)] = None,
        ) -> Response:
            """The entry's question and answer, "did this solve it?", and related questions."""
            page = self._page(request, lang)
            entry = self.faq.entry(entry_id)
            if entry is None:
                return self._not_found(page)
            item = article(entry, page.language)
            canonical = self._absolute(request, f"/{entry.id}", page.language)
            body = render(
                "entry.html",
                page,
                article=item,
                topic=self.topic_label(item.topic, page.language),
                related=self._related(entry.id, page.language),
                feedback=feedback,
                feedback_id=fid or "",
                json_ld=faq_page_json_ld([item], page.language, canonical),
                canonical=canonical,
                alternates=self._alternates(request, f"/{entry.id}"),
            )
            if request.method == "GET" and feedback is None and not is_crawler(request):
                await self.store.count_view(entry.id)
            if feedback is not None:  # personal to this reader: never cache it
                return _html(body, "private, no-store")
            return _cached(request, body, f"{self.shared}, max-age=60")

        # Crawlers and link checkers ask HEAD first (the same answer, without the body).
        for path, endpoint in (("", index), ("/sitemap.xml", sitemap), ("/{entry_id}", entry_page)):
            router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)

        @router.post(
            "/{entry_id}/feedback",
            status_code=status.HTTP_201_CREATED,
            summary='"Did this article solve it?"',
            responses={
                400: {"description": "The body is not JSON or not a form."},
                404: {"description": "No such entry."},
                415: {"description": "Neither JSON nor a form."},
                422: {"description": "A field is missing or wrong; `problems` says which."},
                429: {"description": "Too many answers from one address."},
            },
        )
        async def post_feedback(
            request: Request, entry_id: Annotated[str, Path(max_length=100)], lang: Lang = None
        ) -> Response:
            """Record `{"helpful": true|false, "comment": "…"}` for the entry.

            The answer carries a `feedback_id`; sending it back with a comment adds the
            comment to that answer instead of counting a second one. An HTML form (urlencoded)
            is answered with a redirect to the entry's page.
            """
            page = self._page(request, lang)
            entry = self.faq.entry(entry_id)
            if entry is None:
                return JSONResponse({"detail": f"no help-center entry {entry_id!r}"}, 404)
            try:
                await self.feedback_limit.check(client_ip(request), "feedback answers")
            except HTTPException as exc:
                if not is_form_post(request):
                    raise
                body = render("message.html", page, message=page.t("help_feedback_failed"))
                return HTMLResponse(body, exc.status_code, headers=exc.headers)
            try:
                answer, from_form = parse_feedback(
                    request.headers.get("content-type", ""), await request.body()
                )
            except FeedbackError as exc:
                content: dict[str, object] = {"detail": exc.detail}
                if exc.problems:
                    content["problems"] = exc.problems
                return JSONResponse(content, exc.status)
            feedback_id = answer.feedback_id or uuid.uuid4().hex
            await self.store.record_feedback(
                HelpFeedback(
                    feedback_id=feedback_id,
                    faq_id=entry.id,
                    helpful=answer.helpful,
                    comment=answer.comment,
                    language=page.language,
                    time=self.store.now(),
                )
            )
            if from_form:
                asks_comment = not answer.helpful and answer.feedback_id is None
                query = {"feedback": "no", "fid": feedback_id}
                if not asks_comment:
                    query = {"feedback": "thanks"}
                target = page.url(f"/{entry.id}", **query) + "#feedback"
                return RedirectResponse(target, status.HTTP_303_SEE_OTHER)
            return JSONResponse({"feedback_id": feedback_id, "recorded": True}, 201)

        return router

    def _widget_routes(self) -> APIRouter:
        router = APIRouter(tags=["web channel"])

        @router.get("/web/help-center", summary="The help center, for the chat widget")
        async def for_widget(request: Request, lang: Lang = None) -> JSONResponse:
            """Where the help center is and its most read entries (the widget shows them)."""
            page = self._page(request, lang)
            top = await self._popular(page.language)
            return JSONResponse(
                {
                    "url": self.path,
                    "title": page.t("help_title"),
                    "top": [
                        {"id": a.id, "title": a.title, "url": f"{self.path}/{a.id}"} for a in top
                    ],
                },
                headers={"Cache-Control": "public, max-age=60", "Vary": "Accept-Language"},
            )

        return router

    # --- pages of another kind ------------------------------------------------------------

    async def _search_page(self, request: Request, page: PageContext, query: str) -> Response:
        result, record = search(self.faq, query, page.language)
        if request.method == "GET":  # a HEAD asks about the page, nobody searched
            await self.store.record_search(record.model_copy(update={"time": self.store.now()}))
        body = render(
            "search.html",
            page,
            result=result,
            popular=await self._popular(page.language) if not result.hits else [],
        )
        # Each search is counted, so no shared cache may answer it.
        return _html(body, "private, no-store")

    def _not_found(self, page: PageContext) -> HTMLResponse:
        body = render("message.html", page, message=page.t("help_not_found"), search=True)
        return _html(body, "no-cache", status_code=404)

    def _alternates(self, request: Request, page: str) -> dict[str, str]:
        return {lang: self._absolute(request, page, lang) for lang in ("ja", "en")}


def is_crawler(request: Request) -> bool:
    """Whether a search engine (or a link preview) is reading the page, not a person."""
    return bool(CRAWLER.search(request.headers.get("user-agent", "")))


def is_form_post(request: Request) -> bool:
    """Whether the request comes from an HTML form (which wants a page back, not JSON)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == FORM_MEDIA_TYPE


def _html(body: str, cache_control: str, *, status_code: int = 200) -> HTMLResponse:
    headers = {**PAGE_HEADERS, "Cache-Control": cache_control}
    return HTMLResponse(body, status_code, headers=headers)


def _cached(
    request: Request, body: str, cache_control: str, *, media_type: str = "text/html"
) -> Response:
    """The body with an ETag, or 304 when the client already has these bytes."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if media_type == "text/html":
        headers.update(PAGE_HEADERS)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type=media_type, headers=headers)

"""Rendering the help center's pages: Jinja2 templates, escaped by default."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from bot.texts import Texts

SNIPPET_CHARS = 90


@cache
def environment() -> Environment:
    """The templates of `bot/helpcenter/templates`, HTML-escaped unless marked safe."""
    env = Environment(
        loader=PackageLoader("bot.helpcenter", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["snippet"] = snippet
    return env


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of an answer for a results list, cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class PageContext:
    """What every page needs: its language, the texts, and where things are."""

    language: str
    texts: Texts
    base: str  # the help center's path, e.g. /help

    def t(self, name: str, **values: object) -> str:
        """One of the texts in the page's language."""
        return self.texts.get(name, self.language, **values)

    def url(self, page: str = "", *, language: str | None = None, **query: str) -> str:
        """A link inside the help center, carrying the language so links stay in it."""
        params = {"lang": language or self.language, **query}
        return f"{self.base}{page}?{urlencode(params)}"


def render(template: str, page: PageContext, **values: Any) -> str:
    """A page of the help center as HTML."""
    return environment().get_template(template).render(page=page, t=page.t, url=page.url, **values)


def etag_of(body: str) -> str:
    """A strong validator of a page's bytes."""
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether the client's `If-None-Match` names this ETag (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags

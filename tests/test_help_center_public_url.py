"""The help center's absolute links name `PUBLIC_BASE_URL`, never a Host a client made up.

A shared cache that does not key on Host would otherwise hand a page naming
`http://evil.example` to every later reader.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.settings import Settings

PUBLIC = "https://support.example.jp"
EVIL = {"Host": "evil.example"}
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
PAGES = ("/help?lang=ja", "/help/shipping-fee?lang=en", "/help/sitemap.xml")


def absolute_links(body: str) -> list[str]:
    """Every absolute URL a page or sitemap names (links, JSON-LD, <loc>)."""
    return re.findall(r"https?://[^\s\"'<>]+", body)


async def fetch(
    serve_app: Callable[[Settings], Any], settings: Settings, path: str
) -> httpx.Response:
    running = await serve_app(settings)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        return await http.get(path, headers=EVIL)


async def test_with_a_public_base_url_every_absolute_link_names_it_whatever_the_host(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running = await serve_app(make_settings(public_base_url=PUBLIC + "/"))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        for path in PAGES:
            response = await http.get(path, headers=EVIL)
            assert response.status_code == 200, path
            assert "evil.example" not in response.text, path
            ours = [u for u in absolute_links(response.text) if "example" in u]
            assert ours and all(u.startswith(PUBLIC + "/help") for u in ours), (path, ours)
            assert response.headers["cache-control"].startswith("public"), path
        sitemap = await http.get("/help/sitemap.xml", headers=EVIL)
        locs = [e.text or "" for e in ET.fromstring(sitemap.content).iter(SITEMAP + "loc")]
        assert f"{PUBLIC}/help?lang=ja" in locs
        assert f"{PUBLIC}/help/shipping-fee?lang=en" in locs
        entry = await http.get("/help/shipping-fee?lang=en", headers=EVIL)
        assert f'href="{PUBLIC}/help/shipping-fee?lang=en"' in entry.text
        assert f'hreflang="ja" href="{PUBLIC}/help/shipping-fee?lang=ja"' in entry.text


async def test_without_a_public_base_url_pages_naming_the_host_are_kept_from_shared_caches(
    serve_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    running = await serve_app(make_settings())
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        for path in PAGES:
            response = await http.get(path, headers=EVIL)
            assert response.status_code == 200, path
            assert response.headers["cache-control"].startswith("private,"), path
            # A 304 revalidation says the same.
            again = await http.get(
                path, headers={**EVIL, "If-None-Match": response.headers["etag"]}
            )
            assert again.status_code == 304
            assert again.headers["cache-control"].startswith("private,"), path
        # Assets name no address: any cache may keep them.
        css = await http.get("/help/assets/help.css", headers=EVIL)
        assert css.headers["cache-control"].startswith("public")


@pytest.mark.parametrize(
    "value", ["support.example.jp", "javascript:alert(1)", "https://x.example/?a=1", "ftp://x"]
)
def test_a_public_base_url_that_is_no_http_address_is_refused(
    make_settings: Callable[..., Settings], value: str
) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        make_settings(public_base_url=value)

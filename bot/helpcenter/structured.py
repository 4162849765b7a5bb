"""What search engines read: schema.org `FAQPage` JSON-LD and the sitemap."""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from bot.helpcenter.catalog import Article
from bot.helpcenter.language import LANGUAGES


def faq_page_json_ld(articles: Sequence[Article], language: str, url: str) -> str:
    """A schema.org FAQPage of `articles`, ready to sit inside a `<script>` element.

    `<`, `>` and `&` are written as JSON escapes, so no answer text can close the element.
    """
    data = {
        "@context": "https://schema.org",
        "@type": "FAQPage",
        "inLanguage": language,
        "url": url,
        "mainEntity": [
            {
                "@type": "Question",
                "name": a.title,
                "acceptedAnswer": {"@type": "Answer", "text": a.answer},
            }
            for a in articles
        ],
    }
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def sitemap_xml(base_url: str, entry_ids: Sequence[str], lastmod: str | None) -> str:
    """The index and every entry, each with its Japanese and English versions as alternates."""
    pages = ["", *(f"/{i}" for i in entry_ids)]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        ' xmlns:xhtml="http://www.w3.org/1999/xhtml">',
    ]
    for page in pages:
        for lang in LANGUAGES:
            lines.append("  <url>")
            lines.append(f"    <loc>{escape(f'{base_url}{page}?lang={lang}')}</loc>")
            if lastmod:
                lines.append(f"    <lastmod>{lastmod}</lastmod>")
            for alt in LANGUAGES:
                href = quoteattr(f"{base_url}{page}?lang={alt}")
                lines.append(f'    <xhtml:link rel="alternate" hreflang="{alt}" href={href}/>')
            lines.append("  </url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"

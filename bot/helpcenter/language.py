"""Which language a help-center page is shown in: `?lang=`, else `Accept-Language`."""

from __future__ import annotations

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


def negotiate(explicit: str | None, accept_language: str | None) -> str:
    """'ja' or 'en': a supported `?lang=` wins, then the browser's preference, then Japanese.

    `Accept-Language` is read as RFC 9110 says: comma-separated ranges with optional
    `;q=` weights; the supported language with the highest weight wins, ties in order.
    """
    chosen = _base(explicit)
    if chosen in LANGUAGES:
        return chosen
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for item in (accept_language or "").split(",")[:20]:  # a hostile header stays cheap
        tag, _, params = item.strip().partition(";")
        weight = _weight(params)
        lang = _base(tag)
        if lang in LANGUAGES and weight > best_q:
            best, best_q = lang, weight
    return best


def _base(tag: str | None) -> str:
    return (tag or "").strip().replace("_", "-").split("-")[0].lower()


def _weight(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0

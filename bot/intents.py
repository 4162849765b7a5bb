"""Small, explicit readings of what a customer's words mean outside the FAQ.

These are deliberately simple word lists: they decide whether to hand a conversation to a
person, cancel that, end it, or read a survey rating, and each decision must be predictable
for the admin who configures it.
"""

from __future__ import annotations

import re
import unicodedata

from bot.model import Inbound, InboundKind

HANDOFF_WORDS = (
    "オペレーター",
    "オペレータ",
    "人と話",
    "人間と話",
    "担当者",
    "有人",
    "スタッフと話",
    "問い合わせ窓口",
    "talk to a person",
    "talk to a human",
    "speak to a person",
    "speak to someone",
    "real person",
    "human",
    "agent",
    "operator",
    "representative",
)
CANCEL_WORDS = ("キャンセル", "やめる", "やめます", "取り消し", "cancel", "never mind", "nevermind")
THANKS_WORDS = (
    "ありがとう",
    "有難う",
    "助かりました",
    "解決しました",
    "さようなら",
    "thanks",
    "thank you",
    "thx",
    "bye",
    "goodbye",
    "that helped",
    "solved",
)
# Linking another channel: the whole message must be one of these (after folding), so a
# sentence that happens to contain the words is still a question for the FAQ.
LINK_CODE_WORDS = ("連携コード", "連携", "link code", "link")
UNLINK_WORDS = ("連携解除", "unlink")
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def fold(text: str) -> str:
    """NFKC and lower case: full-width letters and digits become their plain forms."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def _contains_word(text: str, words: tuple[str, ...]) -> bool:
    folded = fold(text)
    for word in words:
        if word.isascii():
            if re.search(rf"\b{re.escape(word)}\b", folded):
                return True
        elif word in folded:
            return True
    return False


def asks_for_link_code(text: str) -> bool:
    """True when the whole message asks for a code to link another channel."""
    return fold(text) in LINK_CODE_WORDS


def asks_to_unlink(text: str) -> bool:
    """True when the whole message asks to unlink this channel from the others."""
    return fold(text) in UNLINK_WORDS


def typed_code(text: str) -> tuple[str, bool] | None:
    """The six digits of a typed link code and whether a link word came before them
    (「連携 123456」: explicit) or they were sent alone ("123456": perhaps an order number)."""
    folded = fold(text)
    explicit = False
    for word in LINK_CODE_WORDS:
        if folded.startswith(word):
            folded = folded[len(word) :].strip(" :：")
            explicit = True
            break
    if len(folded) == 6 and folded.isascii() and folded.isdigit():
        return folded, explicit
    return None


def asks_for_human(text: str, extra_words: tuple[str, ...] = ()) -> bool:
    """True when the customer asks for a person (or writes an admin's trigger word)."""
    return _contains_word(text, HANDOFF_WORDS + extra_words)


def mentions_any(text: str, words: tuple[str, ...]) -> bool:
    """True when the text contains one of `words` (whole words for Latin script)."""
    return bool(words) and _contains_word(text, words)


def asks_to_cancel(text: str) -> bool:
    """True for a short message that cancels the request for a person."""
    return len(fold(text)) <= 20 and _contains_word(text, CANCEL_WORDS)


def says_thanks(text: str) -> bool:
    """True for a short thank-you or goodbye that ends the conversation."""
    return len(fold(text)) <= 30 and _contains_word(text, THANKS_WORDS)


def read_rating(text: str, low: int, high: int) -> int | None:
    """A rating typed as text ('5', '５', 'five', '５点'), or None if the text is not one."""
    folded = fold(text).rstrip("点です。.!！ ")
    if folded.isdigit():
        value = int(folded)
    elif folded in NUMBER_WORDS:
        value = NUMBER_WORDS[folded]
    else:
        return None
    return value if low <= value <= high else None


def detect_language(text: str) -> str | None:
    """'ja' when the text has Japanese script, 'en' when it is clearly English, else None."""
    if _JAPANESE.search(text):
        return "ja"
    if len(_LATIN_WORD.findall(text)) >= 2:
        return "en"
    return None


def typed_language(inbound: Inbound) -> str | None:
    """The language the customer's own words in this event are in, or None: a tap, media,
    a follow, or a text that tells no language (digits, signs, one Latin word). Only then
    does the answer's language come from elsewhere (the conversation, the channel's
    profile of the customer)."""
    return detect_language(inbound.text) if inbound.kind is InboundKind.TEXT else None

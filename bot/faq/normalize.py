"""Text normalisation that fits Japanese and English customer messages."""

from __future__ import annotations

import re
import unicodedata

# Katakana → hiragana is a fixed code-point offset; ヴ and the small ヵヶ have no hiragana
# twins in common use, so they fold through the same offset (ゔ, ゕ, ゖ exist).
_KATA_START, _KATA_END, _KANA_OFFSET = 0x30A1, 0x30F6, 0x60
_KATA_TO_HIRA = {c: c - _KANA_OFFSET for c in range(_KATA_START, _KATA_END + 1)}
_HIRA_TO_KATA = {c - _KANA_OFFSET: c for c in range(_KATA_START, _KATA_END + 1)}

# Politeness and small talk that carries no meaning for matching. Matched on folded text
# (hiragana, lowercase), longest first so 「すみませんが」 goes whole.
_JA_FILLER = [
    "教えていただけますか",
    "教えていただけませんか",
    "教えてください",
    "教えてほしいです",
    "教えてほしい",
    "教えて下さい",
    "教えて",
    "お願いいたします",
    "お願いします",
    "お願い",
    "よろしくお願いします",
    "宜しくお願いします",
    "よろしく",
    "質問があります",
    "質問です",
    "質問",
    "問い合わせです",
    "お問い合わせです",
    "すみませんが",
    "すみません",
    "すいません",
    "申し訳ありません",
    "申し訳ないのですが",
    "こんにちは",
    "こんばんは",
    "おはようございます",
    "はじめまして",
    "お世話になっております",
    "お世話になります",
    "ありがとうございます",
    "ありがとうございました",
    "ありがとう",
    "ちょっと",
    "えっと",
    "えーと",
    "あのー",
    "あの、",
    "知りたいです",
    "知りたい",
    "聞きたいのですが",
    "聞きたいです",
    "聞きたい",
    "でしょうか",
    "ですか",
    "ますか",
    "ください",
    "下さい",
    "ほしいです",
]
_EN_FILLER = [
    r"hi there",
    r"hello there",
    r"\bhi\b",
    r"\bhello\b",
    r"\bhey\b",
    r"good (morning|afternoon|evening)",
    r"i have a question( about)?",
    r"quick question",
    r"i('d| would) like to (know|ask)( about)?",
    r"i want to (know|ask)( about)?",
    r"can you tell me",
    r"could you tell me",
    r"please",
    r"\bthanks?( you)?\b",
    r"\bsorry\b",
    r"\bexcuse me\b",
    r"\bum+\b",
    r"\buh+\b",
]
_EN_FILLER_RE = re.compile("|".join(_EN_FILLER))
_PUNCT_RE = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE_RE = re.compile(r"\s+")
# Sentence ends: Japanese and Western full stops, question and exclamation marks, newlines.
_SENTENCE_END_RE = re.compile(r"(?<=[。．.!?！？\n])\s*")

QUESTION_TAIL_CHARS = 60  # a message longer than this is treated as "story, then question"
# What of a very long message is matched: its start (the topic) and its end (the question).
# A pasted log or a 20,000-character DM costs time, not meaning.
MATCH_HEAD_CHARS = 500
MATCH_TAIL_CHARS = 1500


def to_hiragana(text: str) -> str:
    """Fold katakana to hiragana (ア→あ) so either spelling matches the other."""
    return text.translate(_KATA_TO_HIRA)


def to_katakana(text: str) -> str:
    """Fold hiragana to katakana (あ→ア), the form of Sudachi's readings."""
    return text.translate(_HIRA_TO_KATA)


def fold_width(text: str) -> str:
    """NFKC (full/half width) and case folding, whitespace squeezed; kana as written.

    What a tokeniser should read: katakana folded to hiragana before it is tokenised reads
    as other words (ポイント as ぽい, キャンセル as 侠, アカウント as none at all).
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE_RE.sub(" ", text).strip()


def fold(text: str) -> str:
    """NFKC (full/half width), case folding and kana folding, whitespace squeezed."""
    return to_hiragana(fold_width(text))


# Folded the same way as messages (the list is written as people write it).
_JA_FILLER_RE = re.compile(
    "|".join(sorted({re.escape(fold(f)) for f in _JA_FILLER}, key=len, reverse=True))
)


def strip_filler(folded: str) -> str:
    """Remove greetings and polite phrases from folded text ("" if nothing else is left)."""
    out = _EN_FILLER_RE.sub(" ", _JA_FILLER_RE.sub(" ", folded))
    out = _SPACE_RE.sub(" ", out).strip()
    return out if _PUNCT_RE.sub("", out).strip() else ""


def clean(text: str) -> str:
    """Folded text with filler and punctuation gone: the form the fuzzy matcher compares."""
    out = strip_filler(fold(text))
    return _SPACE_RE.sub(" ", _PUNCT_RE.sub(" ", out)).strip()


def matchable(text: str) -> str:
    """The part of a message worth matching: all of it, or the head and tail of a long one."""
    if len(text) <= MATCH_HEAD_CHARS + MATCH_TAIL_CHARS:
        return text
    return text[:MATCH_HEAD_CHARS] + "\n" + text[-MATCH_TAIL_CHARS:]


def sentences(text: str) -> list[str]:
    """Split a message into sentences (Japanese and Western punctuation, newlines)."""
    return [s.strip() for s in _SENTENCE_END_RE.split(text) if s.strip()]


def question_part(text: str) -> str | None:
    """For a long message, its last sentence with content: customers ask at the end.

    Returns None for short messages, where the whole text is the question.
    """
    if len(text) <= QUESTION_TAIL_CHARS:
        return None
    parts = sentences(text)
    if len(parts) < 2:
        return None
    # Prefer the last sentence that is a question; else the last with content.
    for part in reversed(parts):
        if part.rstrip().endswith(("?", "？")) and clean(part):
            return part
    for part in reversed(parts):
        if clean(part):
            return part
    return None

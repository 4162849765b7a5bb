"""From a message to the terms the index compares: words, concepts and character grams.

Japanese goes through SudachiPy (normalised dictionary forms, so 引越し = 引っ越し and
分からない = わかる; readings, so kanji and kana spellings meet). English is lowercased,
stripped of stop words and lightly stemmed. Words then map to concepts through a
thesaurus (built in, extended by FAQ files), so 送料 and "shipping cost" meet too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources

import yaml
from sudachipy import Dictionary, SplitMode, Tokenizer

from bot.faq.normalize import clean, fold, fold_width, question_part, to_hiragana

# Parts of speech that carry no topic: particles, auxiliaries, symbols, interjections.
_SKIP_POS = {"助詞", "助動詞", "補助記号", "記号", "空白", "感動詞", "接続詞", "接頭辞"}
# Light verbs and fillers that Sudachi tags as content words (dictionary forms, folded).
_JA_STOP = {
    fold(w)
    for w in (
        "為る 居る 有る 成る 出来る 致す 御座る 下さる 頂く 貰える 思う 言う "
        "事 物 其の 此の 其れ 此れ 私 僕 俺 方 様 さん 今日 ちょっと "
        "教える 知る 聞く 質問 問い合わせ 宜しい 御願い 願う 済む 見る 欲しい 良い いい"
    ).split()
}
_EN_STOP = set(
    "a an the i me my mine you your yours we us our it its is am are was were be been being "
    "do does did doing to of in on at for with from by about as this that these those there "
    "here and or but if so than then can could will would shall should may might must have "
    "has had having just also very really some any please hi hello hey thanks thank s t ll "
    "re ve d m im want like need would know tell".split()
)
_ASCII_WORD_RE = re.compile(r"[a-z][a-z0-9']*|\d+")
_SPLIT_RE = re.compile(r"([a-z][a-z0-9']*(?:[ -][a-z][a-z0-9']*)*)")
_CONTRACTIONS = {"won't": "will not", "can't": "can not", "n't": " not"}
QUESTION_WEIGHT_STORY = 0.2  # weight of words outside the question of a long message
# SudachiPy refuses inputs over 49,149 bytes (UTF-8); stay well below it.
SUDACHI_MAX_BYTES = 32_000


def fit_for_sudachi(text: str) -> str:
    """`text` cut (at a character boundary) to what SudachiPy accepts."""
    data = text.encode("utf-8")
    if len(data) <= SUDACHI_MAX_BYTES:
        return text
    return data[:SUDACHI_MAX_BYTES].decode("utf-8", errors="ignore")


def stem(word: str) -> str:
    """A light English stemmer: plural, -ing, -ed and a final e go (shipping -> ship)."""
    w = word
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)] + repl
            break
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "aeiosl":
        w = w[:-1]  # shipp -> ship, stopp -> stop
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


@dataclass(frozen=True)
class Morpheme:
    """What the analyzer keeps of one Sudachi morpheme."""

    lemma: str  # normalised dictionary form, kana folded (引越し -> 引っ越し)
    base: str  # dictionary form as written
    reading: str  # in hiragana
    number: bool


@dataclass(frozen=True)
class Thesaurus:
    """Words to concept ids; multi-word phrases as word tuples."""

    words: dict[str, frozenset[int]] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], frozenset[int]] = field(default_factory=dict)

    @cached_property
    def longest(self) -> int:
        """The longest phrase, in words (the phrases are fixed: counted once, not per message)."""
        return max((len(p) for p in self.phrases), default=1)


@lru_cache(maxsize=1)
def builtin_synonyms() -> tuple[tuple[str, ...], ...]:
    """The synonym groups shipped with the bot (bot/faq/thesaurus.yaml)."""
    text = resources.files("bot.faq").joinpath("thesaurus.yaml").read_text(encoding="utf-8")
    return tuple(tuple(str(w) for w in group) for group in yaml.safe_load(text)["groups"])


@lru_cache(maxsize=1)
def _dictionary() -> Dictionary:
    # About 75 MB and 0.3 s each: one per process, shared by every FAQ load.
    return Dictionary(dict="core")


_tokenizers = threading.local()  # Sudachi tokenizers are not shared across threads


def _tokenizer() -> Tokenizer:
    tok: Tokenizer | None = getattr(_tokenizers, "tok", None)
    if tok is None:
        tok = _dictionary().tokenizer(mode=SplitMode.A)
        _tokenizers.tok = tok
    return tok


class Analyzer:
    """Turns text into weighted terms; one per FAQ load (the thesaurus may differ)."""

    def __init__(self, synonyms: Iterable[Iterable[str]] = ()) -> None:
        # Messages are analysed for words and for readings: tokenise each text once.
        self._morphemes = lru_cache(maxsize=4096)(self._morphemes_uncached)
        words: dict[str, set[int]] = {}
        phrases: dict[tuple[str, ...], set[int]] = {}
        empty = Thesaurus()
        for concept, group in enumerate([*builtin_synonyms(), *synonyms]):
            for term in group:
                lemmas = tuple(self._lemmas(str(term), empty))
                if len(lemmas) == 1:
                    words.setdefault(lemmas[0], set()).add(concept)
                elif lemmas:
                    phrases.setdefault(lemmas, set()).add(concept)
        self.thesaurus = Thesaurus(
            {k: frozenset(v) for k, v in words.items()},
            {k: frozenset(v) for k, v in phrases.items()},
        )

    def forget_texts(self) -> None:
        """Drop the tokenised texts kept for repeats, so the next ones are analysed anew."""
        self._morphemes.cache_clear()

    def _lemmas(self, text: str, _thesaurus: Thesaurus | None = None) -> list[str]:
        """Content words in dictionary form: Japanese via Sudachi, English stemmed."""
        # Sudachi reads the script as written; its forms are folded to hiragana afterwards.
        low = fold_width(text).replace("’", "'")
        for contraction, full in _CONTRACTIONS.items():
            low = low.replace(contraction, full)
        out: list[str] = []
        for i, chunk in enumerate(_SPLIT_RE.split(low)):
            if i % 2:  # an English run
                for word in _ASCII_WORD_RE.findall(chunk):
                    word = word.split("'")[0]  # i'd -> i, shop's -> shop
                    if word and word not in _EN_STOP and not word.isdigit():
                        out.append(stem(word))
            elif chunk.strip():
                out += self._japanese_lemmas(chunk)
        return out

    def _morphemes_uncached(self, chunk: str) -> tuple[Morpheme, ...]:
        out = []
        for m in _tokenizer().tokenize(fit_for_sudachi(chunk)):
            pos = m.part_of_speech()
            if pos[0] in _SKIP_POS:
                continue
            out.append(
                Morpheme(
                    lemma=to_hiragana(m.normalized_form()),
                    base=to_hiragana(m.dictionary_form()),
                    reading=to_hiragana(m.reading_form() or m.surface()),
                    number=pos[1] == "数詞",
                )
            )
        return tuple(out)

    def _japanese_lemmas(self, chunk: str) -> list[str]:
        return [
            m.lemma
            for m in self._morphemes(chunk)
            if not m.number and m.lemma not in _JA_STOP and m.base not in _JA_STOP
        ]

    def reading(self, text: str) -> str:
        """The text's reading in hiragana (kanji replaced by how they sound)."""
        return "".join(m.reading for m in self._morphemes(fold_width(text)))

    def units(self, lemmas: list[str]) -> list[frozenset[str]]:
        """One unit of meaning per word: the word and its concepts, any of which may match.

        A thesaurus phrase ("cash on delivery") merges its words into one unit.
        """
        units = [
            {f"w:{lemma}", *(f"c:{c}" for c in self.thesaurus.words.get(lemma, ()))}
            for lemma in lemmas
        ]
        merged = list(range(len(units)))  # unit index each word belongs to
        for n in range(self.thesaurus.longest, 1, -1):
            for i in range(len(lemmas) - n + 1):
                concepts = self.thesaurus.phrases.get(tuple(lemmas[i : i + n]))
                if concepts:
                    head = merged[i]
                    units[head] |= {f"c:{c}" for c in concepts}
                    for j in range(i + 1, i + n):
                        if merged[j] != head:
                            units[head] |= units[merged[j]]
                            merged[j] = head
        return [frozenset(units[i]) for i in sorted(set(merged))]

    def word_units(self, text: str) -> list[tuple[frozenset[str], float]]:
        """Units of `text` with weights (the question of a long message counts most)."""
        tail = question_part(text)
        parts = [(text, 1.0)] if tail is None else [(text, QUESTION_WEIGHT_STORY), (tail, 1.0)]
        best: dict[frozenset[str], float] = {}
        for part, weight in parts:
            for unit in self.units(self._lemmas(part)):
                best[unit] = max(best.get(unit, 0.0), weight)
        return list(best.items())

    def gram_terms(self, text: str) -> dict[str, float]:
        """Character bigrams of the surface and of the reading (typos, kana spellings)."""
        tail = question_part(text)
        source = tail if tail is not None else text
        surface = clean(source).replace(" ", "")
        grams = {f"g:{surface[i : i + 2]}" for i in range(len(surface) - 1)}
        sound = self.reading(source)
        grams |= {f"r:{sound[i : i + 2]}" for i in range(len(sound) - 1)}
        return dict.fromkeys(grams, 1.0)

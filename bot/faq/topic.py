"""Topic-only messages: a customer names a topic but asks nothing about it.

「メールについて」, 「配送のこと」, 「ポイントって？」, 「送料は？」, 「ポイント」 alone,
"about shipping", "question about my points": a noun phrase, perhaps followed by a topic
marker (について, のこと, って, は, "about ...") and a request that asks for nothing in
particular (について教えて, のことを知りたい, "tell me about"), and nothing else: no verb, no
adjective, no question word. When several entries share that topic, the message does not
say which of them the customer wants, however strongly one entry's meaning pulls: the bot
offers them as choices instead of answering one. When the topic reaches a single entry
(「返品について」 with one returns entry), that entry is the answer.

The rule reads the message's form only (its parts of speech, its markers) and the FAQ's
own words (how many entries know every word of the topic): nothing is fitted, so it
carries over to any FAQ.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import numpy.typing as npt

from bot.faq.analyzer import _tokenizer, fit_for_sudachi
from bot.faq.index import FaqIndex

# From this many reached entries, a topic-only message gets choices, not an answer.
SHARED_BY = 2
# A topic is a short phrase; a longer message is a story or a question, not a topic.
MAX_TOPIC_CHARS = 30
MAX_TOPIC_WORDS = 5

_END_PUNCT_RE = re.compile(r"[\s?？!！。．.、,…~〜ー:：]+$")
_START_PUNCT_RE = re.compile(r"^[\s、,:：]+")
# Greetings and politeness around a message (Japanese and English), not part of the topic.
_JA_AROUND = re.compile(
    r"^(?:すみません|すいません|こんにちは|こんばんは|はじめまして|お世話になっております|"
    r"あの|えっと|えーと)[\s、,。！!ー]*"
)
# Requests that ask for nothing in particular, after the topic (教えて, 知りたい, 質問です).
_JA_REQUEST = (
    r"(?:を|は|が)?(?:教えて(?:ください|下さい|ほしいです|ほしい|いただけますか|もらえますか)?"
    r"|知りたいです|知りたい|聞きたいです|聞きたいのですが|聞きたい"
    r"|質問です|質問があります|質問したいです|質問したい|質問"
    r"|相談です|相談したいです|相談したい)"
)
# Topic markers: "about X", "X (is)?".
_JA_MARKER = (
    r"(?:について(?:の(?:質問|こと|相談))?|に就いて|に関して|に関する(?:質問|こと)?"
    r"|の(?:こと|事|件|質問|相談)(?:で|です)?|って|は|とか)(?:です)?"
)
# A request counts only after a marker: 「配送について教えて」 asks about a topic, while
# 「追跡番号を教えて」 asks for the number itself.
_JA_FORM = re.compile(rf"^(?P<topic>.+?)(?:(?:{_JA_MARKER})(?:{_JA_REQUEST})?)?$")
# Question words Sudachi may tag as nouns (いくら, 何時, 何曜日): a question, not a topic.
_JA_QUESTION_WORD = re.compile(
    r"何|いくら|幾ら|いつ|どこ|どれ|どう|どの|どんな|どちら|誰|なぜ|なに"
)
# Parts of speech a noun phrase is made of (Sudachi's first level).
_NOUN_PHRASE_POS = {"名詞", "接頭辞", "接尾辞", "形状詞", "補助記号", "空白"}
# Particles that join nouns inside a phrase (メールの設定, 送料と日数).
_JOINING_PARTICLES = {"の", "と", "や"}

_EN_AROUND = re.compile(
    r"^(?:(?:hi|hello|hey|excuse me|sorry|um+|so|ok|okay)(?:\s+there)?[\s,!.]*)+"
    r"|(?:[\s,]*(?:please|pls|thanks|thank you|thx))+$"
)
_EN_FORM = re.compile(
    r"^(?:(?:i (?:have|had|got)|i've got|got|just)?\s*(?:an?|one|some|quick)?\s*"
    r"(?:quick\s+)?questions?\s+(?:about|on|regarding|re)"
    r"|(?:can|could) you tell me (?:more )?about|tell me (?:more )?about"
    r"|i (?:want|would like|need|'d like) (?:to know|info|information) (?:about|on)"
    r"|(?:more )?info(?:rmation)? (?:about|on|regarding)"
    r"|about|regarding|concerning|re|what about|how about)\s+(?P<topic>.+)$"
)
# Words that make an English phrase a question or a sentence rather than a topic.
_EN_NOT_TOPIC = set(
    "what when where why how who whom which whose is are am was were be been do does did "
    "can could will would should shall may might must have has had i i'm i've you we it "
    "they he she this that there not no don't doesn't didn't can't won't isn't aren't "
    "wasn't cannot want need like get got if or".split()
)
_EN_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def _japanese_noun_phrase(phrase: str) -> bool:
    """True when `phrase` is nouns only (with prefixes, suffixes and の/と/や between them)."""
    morphemes = list(_tokenizer().tokenize(fit_for_sudachi(phrase)))
    if not morphemes:
        return False
    last = len(morphemes) - 1
    has_noun = False
    for k, m in enumerate(morphemes):
        pos = m.part_of_speech()
        if pos[0] == "助詞":
            if m.surface() not in _JOINING_PARTICLES or k in (0, last):
                return False
        elif pos[0] not in _NOUN_PHRASE_POS:
            return False  # a verb, adjective, auxiliary, adverb, pronoun (いつ, 何), ...
        elif pos[0] == "形状詞" and k == last:
            return False  # 「大丈夫」, 「可能」: a predicate, not a topic
        has_noun = has_noun or pos[0] == "名詞"
    return has_noun


def _english_topic(text: str) -> str | None:
    """The topic of an English topic-only message ("about shipping", "points?")."""
    low = _EN_AROUND.sub("", text.casefold()).strip()
    low = _END_PUNCT_RE.sub("", low).strip()
    match = _EN_FORM.match(low)
    topic = match.group("topic") if match else low
    words = _EN_WORD_RE.findall(topic)
    if not words or len(words) > (MAX_TOPIC_WORDS if match else 3):
        return None
    if re.sub(r"[\sa-z0-9'\-/&]", "", topic):
        return None  # other characters: not a plain English phrase
    if any(w in _EN_NOT_TOPIC for w in words):
        return None
    return topic


def topic_phrase(text: str) -> str | None:
    """The topic of a topic-only message, or None when the message asks or says more.

    「配送のことを教えてください」 -> 「配送」; "Question about my points" -> "my points";
    「送料はいくら？」 (a question word), 「キャンセルしたい」 (a verb) -> None.
    """
    text = unicodedata.normalize("NFKC", text).strip()
    if not text or len(text) > MAX_TOPIC_CHARS + 20 or "\n" in text:
        return None
    if text.isascii():
        return _english_topic(text)
    body = _START_PUNCT_RE.sub("", _JA_AROUND.sub("", text))
    body = _END_PUNCT_RE.sub("", body)
    if not body or re.search(r"[?？!！。]", body):
        return None  # two sentences: more than a topic
    match = _JA_FORM.match(body)
    if match is None:
        return None
    topic = match.group("topic").strip()
    if not topic or len(topic) > MAX_TOPIC_CHARS or _JA_QUESTION_WORD.search(topic):
        return None
    if not _japanese_noun_phrase(topic):
        return None
    return topic


def topic_reach(index: FaqIndex, topic: str) -> int:
    """How many entries know every word of `topic`, each by its most specific term.

    A word's unit holds the word and its thesaurus concepts; a broad concept (price, fee)
    would reach every entry that names a price, so each word counts by its rarest known
    terms only (「送料」 reaches the entries that speak of 送料 or 配送料, not every fee).
    """
    words = index.words
    reached: npt.NDArray[np.bool_] | None = None
    for terms, _ in index.analyzer.word_units(topic):
        known = [t for t in terms if t in words.postings]
        if not known:
            return 0  # a word no entry knows: the topic reaches nothing
        rarest = max(words.idf[t] for t in known)
        units = np.concatenate([words.postings[t] for t in known if words.idf[t] >= rarest])
        entries = np.zeros(words.n_entries, dtype=bool)
        entries[words.owners[words.unit_text[units]]] = True
        reached = entries if reached is None else reached & entries
    return 0 if reached is None else int(reached.sum())


def open_topic(index: FaqIndex, text: str) -> bool:
    """True when `text` only names a topic that several entries share: offer choices."""
    topic = topic_phrase(text)
    return topic is not None and topic_reach(index, topic) >= SHARED_BY

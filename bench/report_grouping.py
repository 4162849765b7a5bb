"""Time to group the unanswered messages of /admin's report, for hostile and ordinary input.

Run: .venv/bin/python bench/report_grouping.py
Groups with the FAQ analyzer's units, as `GET /admin/api/report` does, and prints the
seconds for: 101 random 4,000-character messages (the input that once took 65 s);
10,000 random messages of any length (1 to 4,000 characters); 10,000 messages built from a
small vocabulary, so that every message shares words with many others (the worst case for
candidate finding); and 10,000 everyday questions with small variations.
"""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

from bot.faq import FaqLibrary, MatchSettings
from bot.records import UnansweredMessage
from bot.reports.similar import Units, group_unanswered

ROOT = Path(__file__).resolve().parent.parent
ALPHABET = string.ascii_letters + string.digits + " " * 10 + "あいうえおかきくけこ店舗送料注文返品"
QUESTIONS = [
    "大阪に店舗はありますか？",
    "Is there a shop in Osaka?",
    "名入れはできますか？",
    "Can you wrap each item separately?",
    "再入荷のお知らせは届きますか",
    "領収書を発行してもらえますか",
    "Do you ship to Korea?",
    "ギフト用の箱はありますか",
]
VOCABULARY = "order shipping refund store osaka gift wrap box name paid late broken".split()


def message(text: str) -> UnansweredMessage:
    return UnansweredMessage(text=text, channel="web", conversation_id="c")


def random_text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def cases(rng: random.Random) -> dict[str, list[UnansweredMessage]]:
    return {
        "101 random messages of 4,000 characters": [
            message(random_text(rng, 4000)) for _ in range(101)
        ],
        "10,000 random messages of 1-4,000 characters": [
            message(random_text(rng, rng.randint(1, 4000))) for _ in range(10_000)
        ],
        "10,000 messages from a 12-word vocabulary": [
            message(" ".join(rng.choices(VOCABULARY, k=rng.randint(3, 600)))) for _ in range(10_000)
        ],
        "10,000 everyday questions with variations": [
            message(rng.choice(QUESTIONS) + rng.choice(["", "？", " please", "ね", " 至急"]))
            for _ in range(10_000)
        ],
    }


def main() -> None:
    faq = FaqLibrary(ROOT / "faq_data", MatchSettings(embedder="none"))  # words only
    analyzer = faq.index.analyzer

    def units_of(text: str) -> Units:
        return [unit for unit, _weight in analyzer.word_units(text)]

    for name, messages in cases(random.Random(7)).items():
        started, cpu = time.perf_counter(), time.process_time()
        groups = group_unanswered(messages, {}, units_of=units_of)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        top = groups[0].count if groups else 0
        print(
            f"{name:46} {elapsed:6.2f} s ({cpu:5.2f} s CPU)  "
            f"{len(groups)} groups shown, largest {top}"
        )


if __name__ == "__main__":
    main()

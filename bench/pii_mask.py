"""Time to mask personal data, per text: what every Slack post, log line and report text pays.

Run: .venv/bin/python bench/pii_mask.py
Prints CPU microseconds per text (median of 5 rounds; CPU time, so that a busy machine
shows the cost rather than the wait) for: short everyday messages without personal data,
messages with a phone number, an e-mail address, a postal code or a card number, 4,000
random characters full of digits and separators (the longest message a customer can send),
and a typical JSON log line.
"""

from __future__ import annotations

import random
import statistics
import string
import time

from bot.privacy.mask import mask_personal_data

EVERYDAY = [
    "送料はいくらですか？",
    "注文番号 A-20240101-0001 の配送状況を教えてください",
    "How much is shipping to Osaka?",
    "2024-01-01に注文した¥12,345の商品が届きません",
    "返品したいです。サイズは27.5cmでした",
]
PERSONAL = [
    "電話番号は090-1234-5678です。折り返しお願いします",
    "メールは hanako.yamada@example.co.jp に送ってください",
    "〒123-4567 東京都千代田区丸の内1-1-1 までお願いします",
    "カード 4111 1111 1111 1111 で払いました",
]
LOG_LINE = (
    '{"time": "2026-11-30T15:20:01.123Z", "level": "INFO", "logger": "tsunagu.slack.desk", '
    '"message": "slack desk action", "action": "claim", "agent_id": "slack:U0SATO", "ok": true}'
)


def per_text_us(texts: list[str], rounds: int = 5) -> float:
    """Median microseconds to mask one text of `texts`."""
    timings = []
    for _ in range(rounds):
        start = time.process_time()
        for text in texts:
            mask_personal_data(text)
        timings.append((time.process_time() - start) / len(texts) * 1e6)
    return statistics.median(timings)


def main() -> None:
    rng = random.Random(7)
    digits_heavy = [
        "".join(rng.choice(string.digits + "- 　ーabcあいう@.") for _ in range(4000))
        for _ in range(20)
    ]
    cases = {
        "everyday message, no personal data": EVERYDAY * 200,
        "message with personal data": PERSONAL * 250,
        "4,000 random characters, digits and separators": digits_heavy,
        "JSON log line": [LOG_LINE] * 1000,
    }
    for name, texts in cases.items():
        print(f"{name:50s} {per_text_us(texts):10.1f} µs per text")


if __name__ == "__main__":
    main()

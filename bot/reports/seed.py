"""Demo data: a month of realistic conversations, so a new install shows a populated /admin."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.faq import FaqLoadError, load_faq_dir
from bot.model import Channel
from bot.records import ConversationRecord, RecordStore, SurveyResponse, UnansweredMessage

SAMPLE_FAQ = Path(__file__).resolve().parents[2] / "faq_data"
AGENTS = {"Sato": 55.0, "Suzuki": 95.0, "Tanaka": 170.0}  # median wait in seconds
# What customers of a tableware shop ask most, most popular first.
POPULAR = [
    "shipping-fee", "tracking", "shipping-days", "return-policy", "payment-methods",
    "delivery-date", "refund-timing", "cancel-order", "gift-wrapping", "points-expiry",
    "change-delivery-address", "absent-redelivery", "coupon", "dishwasher-safe", "store-hours",
]  # fmt: skip
HARD = {"refund-timing": 3.0, "cancel-order": 3.6}  # answers customers find hard (mean CES)
CHANNELS = [(Channel.LINE, 0.5), (Channel.WEB, 0.35), (Channel.SLACK, 0.15)]
RESPONSE_RATE = {Channel.LINE: 0.42, Channel.WEB: 0.33, Channel.SLACK: 0.55}

# Questions the sample FAQ has no answer for, in the ways customers write them.
MISSING = [
    (6, ["大阪に店舗はありますか？", "大阪にお店はありますか", "大阪の実店舗の場所を教えてください",
         "Do you have a store in Osaka?", "Is there a shop in Osaka?"]),
    (5, ["Can you wrap each item separately?", "Can I get each item gift wrapped separately?",
         "Can you wrap each item separately?", "can you wrap every item seperately",
         "商品を別々にラッピングしてもらえますか", "別々にラッピングできますか"]),
    (4, ["名入れはできますか？", "湯呑みに名入れをお願いしたい", "名入れサービスはありますか",
         "Can you engrave a name on a cup?"]),
    (3, ["再入荷のお知らせは届きますか", "再入荷の通知を受け取りたい",
         "Will you email me when the kyusu is back in stock?"]),
    (2, ["PayPayは使えますか", "PayPayで払えますか", "Can I pay with PayPay?"]),
    (1, ["急須の茶こしだけ買えますか", "Is the teapot lid sold separately?",
         "海外の住所にギフトを送りたい", "陶器の修理はしてもらえますか",
         "Do you have a catalogue I could get by post?"]),
]  # fmt: skip
COMMENTS = {
    "refund-timing": ["返金がいつになるのか結局わからなかった", "説明が長くて読みにくいです",
                      "The answer didn't say when I'd get my money back."],
    "cancel-order": ["キャンセルのやり方が分かりにくい",
                     "I couldn't find where to cancel from that answer."],
    "hard": ["説明が長くて読みにくいです", "The answer didn't help."],
    "good": ["すぐに解決しました！", "分かりやすかったです", "Quick and easy, thanks!",
             "Found what I needed in seconds."],
    "agent": ["丁寧に対応していただきました", "担当の方が親切でした",
              "Friendly and fast, thank you.", "Solved on the first reply."],
    "slow": ["担当者につながるまで時間がかかった", "Waited a long time for someone to reply.",
             "待ち時間が長かったです"],
    "abandoned": ["誰も対応してくれなかった", "Nobody answered me."],
}  # fmt: skip


class StoreNotEmpty(RuntimeError):
    """The record store already holds conversations for the demo's period."""


@dataclass
class _Batch:
    conversations: list[ConversationRecord] = field(default_factory=list)
    surveys: list[SurveyResponse] = field(default_factory=list)
    unanswered: list[UnansweredMessage] = field(default_factory=list)


async def seed_demo(
    records: RecordStore,
    *,
    days: int = 30,
    seed: int = 0,
    now: float | None = None,
    faq_dir: Path = SAMPLE_FAQ,
) -> int:
    """Write `days` days of demo conversations in time order; return how many conversations.

    Refuses (`StoreNotEmpty`) when the store already has conversations in that period, as
    demo data mixed with real records would mislead, and streams take records in time order.
    """
    now = time.time() if now is None else now
    start = now - days * 86_400
    async for _ in records.read(ConversationRecord, since=start):
        raise StoreNotEmpty(
            "the store already has conversations in the last "
            f"{days} days; demo data goes only into an empty store"
        )
    batch = _generate(random.Random(seed), _faq_ids(faq_dir), start, now)
    for kind in (batch.conversations, batch.surveys, batch.unanswered):
        for record in sorted(kind, key=_time):
            await records.add(record, at=_time(record))
    return len(batch.conversations)


def _time(record: ConversationRecord | SurveyResponse | UnansweredMessage) -> float:
    return record.ended_at if isinstance(record, ConversationRecord) else record.time


def _faq_ids(faq_dir: Path) -> list[str]:
    try:
        loaded = [e.id for e in load_faq_dir(faq_dir).entries]
    except FaqLoadError:
        return POPULAR
    known = [i for i in POPULAR if i in loaded]
    return known if len(known) >= 6 else loaded[: len(POPULAR)] or POPULAR


def _generate(rng: random.Random, faq_ids: list[str], start: float, now: float) -> _Batch:
    batch = _Batch()
    hard = {i: m for i, m in HARD.items() if i in faq_ids} or {faq_ids[-1]: 3.0}
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(faq_ids))]
    day = math.floor(start / 86_400) * 86_400
    while day < now:
        weekday = time.gmtime(day).tm_wday
        volume = rng.randint(22, 34) if weekday < 5 else rng.randint(12, 20)
        # A week of carrier delays a fortnight ago: more handoffs, lower scores.
        delayed = 10 * 86_400 <= now - day < 15 * 86_400
        for _ in range(volume):
            # Customers write from morning to late evening, Japan time (UTC+9).
            hour = rng.triangular(0, 13.5, 3.5)
            started = day + hour * 3600 + rng.uniform(0, 3599)
            if start <= started:
                _conversation(rng, batch, faq_ids, weights, hard, started, now, delayed)
        day += 86_400
    return batch


def _conversation(
    rng: random.Random,
    batch: _Batch,
    faq_ids: list[str],
    weights: list[float],
    hard: dict[str, float],
    started: float,
    now: float,
    delayed: bool,
) -> None:
    channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
    customer = f"{channel.value}:U{rng.getrandbits(40):010x}"
    conv_id = f"{customer}:{int(started)}"
    paths = [0.6, 0.31, 0.09] if delayed else [0.66, 0.27, 0.07]
    path = rng.choices(["bot", "agent", "abandoned"], paths)[0]
    faq = list(dict.fromkeys(rng.choices(faq_ids, weights, k=rng.choice([1, 1, 1, 2]))))
    if path != "bot" and rng.random() < (0.5 if path == "agent" else 0.85):
        faq = []  # went straight to a person
    if delayed and path == "agent" and "tracking" in faq_ids and rng.random() < 0.5:
        faq = ["tracking"]
    agent = rng.choice(list(AGENTS)) if path == "agent" else None
    wait = first = handle = None
    if agent is not None:
        wait = AGENTS[agent] * rng.lognormvariate(0, 0.6) * (1.8 if delayed else 1.0)
        first = wait + rng.uniform(12, 90)
        handle = rng.uniform(180, 1200)
    elif path == "abandoned":
        wait = None
    duration = (handle or 0) + (wait or 0) + rng.uniform(30, 240)
    ended = started + duration
    answer_at = ended + rng.uniform(15, 300)
    if answer_at >= now:
        return
    asked = path != "abandoned" or rng.random() < 0.4
    answered = asked and rng.random() < RESPONSE_RATE[channel]
    batch.conversations.append(
        ConversationRecord(
            conversation_id=conv_id,
            customer_key=customer,
            channel=channel,
            started_at=started,
            ended_at=ended,
            resolution=path,  # type: ignore[arg-type]
            agent=agent,
            faq_answered=faq,
            handed_off=path != "bot",
            wait_seconds=wait,
            first_response_seconds=first,
            handle_seconds=handle,
            customer_messages=rng.randint(1, 3) if path == "bot" else rng.randint(2, 9),
            survey="answered" if answered else ("unanswered" if asked else "not_asked"),
        )
    )
    if (path != "bot" and rng.random() < 0.45) or rng.random() < 0.06:
        weight_list = [w for w, _ in MISSING]
        texts = rng.choices([t for _, t in MISSING], weight_list)[0]
        text = rng.choice(texts)
        batch.unanswered.append(
            UnansweredMessage(
                text=text,
                channel=channel,
                conversation_id=conv_id,
                best_faq_id=_best_guess(text),
                best_score=round(rng.uniform(0.18, 0.42), 3),
                time=started + rng.uniform(1, 20),
            )
        )
    if answered:
        score, mood = _score(rng, path, agent, wait, faq, hard, delayed)
        comment = rng.choice(COMMENTS[mood]) if rng.random() < 0.35 else None
        batch.surveys.append(
            SurveyResponse(
                conversation_id=conv_id,
                customer_key=customer,
                channel=channel,
                score=score,
                comment=comment,
                resolved_by=agent or "bot",
                faq_ids=faq,
                wait_seconds=wait,
                handle_seconds=handle,
                time=answer_at,
            )
        )


def _score(
    rng: random.Random,
    path: str,
    agent: str | None,
    wait: float | None,
    faq: list[str],
    hard: dict[str, float],
    delayed: bool,
) -> tuple[int, str]:
    if path == "abandoned":
        return rng.choice([1, 1, 2, 2, 3]), "abandoned"
    if path == "agent":
        mean = {"Sato": 6.2, "Suzuki": 5.8, "Tanaka": 5.1}.get(agent or "", 5.5)
        slow = (wait or 0) > 240
        mean -= 1.4 if slow else 0
        mood = "slow" if slow else "agent"
    else:
        mean = min([hard.get(i, 6.3) for i in faq], default=6.0)
        worst = min(faq, key=lambda i: hard.get(i, 6.3), default="")
        mood = (worst if worst in COMMENTS else "hard") if mean < 5 else "good"
    mean -= 0.6 if delayed else 0
    score = max(1, min(7, round(rng.gauss(mean, 1.0))))
    if mood in ("good", "agent") and score <= 3:
        mood = "slow" if path == "agent" else "hard"
    elif score >= 5 and mood not in ("good", "agent"):
        mood = "agent" if path == "agent" else "good"
    return score, mood


def _best_guess(text: str) -> str | None:
    """The sample FAQ's entry the matcher would have come closest to."""
    lowered = text.lower()
    for words, faq_id in (
        (("店", "store", "shop"), "store-hours"),
        (("ラッピング", "wrap"), "gift-wrapping"),
        (("入荷", "stock"), "out-of-stock"),
        (("paypay", "払"), "payment-methods"),
        (("名入れ", "engrave"), "gift-wrapping"),
    ):
        if any(w in lowered for w in words):
            return faq_id
    return None

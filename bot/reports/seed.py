"""Demo data: a month of realistic conversations, so a new install shows a populated /admin."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from bot.actor import Actor
from bot.faq import FaqLoadError, load_faq_dir
from bot.model import ChannelName
from bot.records import (
    AgentAnswered,
    ConversationRecord,
    FaqChoice,
    FaqRejected,
    RecordStore,
    SurveyResponse,
    UnansweredMessage,
)
from bot.reports.compute import local_timezone, period_for_days

SAMPLE_FAQ = Path(__file__).resolve().parents[2] / "faq_data"
AGENTS = {"Sato": 55.0, "Suzuki": 95.0, "Tanaka": 170.0}  # median wait in seconds
# What customers of a tableware shop ask most, most popular first.
POPULAR = [
    "shipping-fee", "tracking", "shipping-days", "return-policy", "payment-methods",
    "delivery-date", "refund-timing", "cancel-order", "gift-wrapping", "points-expiry",
    "change-delivery-address", "absent-redelivery", "coupon", "dishwasher-safe", "store-hours",
]  # fmt: skip
HARD = {"refund-timing": 3.0, "cancel-order": 3.6}  # answers customers find hard (mean CES)
# Share of the conversations and survey response rate of each channel, in the order the
# channels are given (registry order); channels beyond these get the last pair.
CHANNEL_SHARES = (0.5, 0.35, 0.15, 0.1)
RESPONSE_RATES = (0.42, 0.33, 0.55, 0.4)

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
# What agents replied to those questions (the last group is a mix of one-offs).
AGENT_REPLIES = [
    ["大阪には店舗がございません。実店舗は京都・三条の本店のみです（10時〜18時、水曜定休）。",
     "We have no shop in Osaka: our only store is in Kyoto (Sanjo), open 10:00-18:00."],
    ["Yes: choose “wrap each item separately” at checkout (220 yen per item).",
     "個別包装はご注文画面の「1点ずつ包装」で承ります（1点220円）。"],
    ["名入れは湯呑みとマグカップのみ承っております（1点880円、お届けは通常より7日ほど遅れます）。"],
    ["商品ページの「再入荷お知らせ」から登録いただくと、入荷時にメールでお知らせします。"],
    ["申し訳ございません、PayPayには対応しておりません。カード・コンビニ払い・代引きをご利用ください。"],
    ["確認してご連絡いたします。少々お待ちください。"],
]  # fmt: skip
# How customers word questions the bot was unsure of, and the "did you mean…?" choice they
# tapped (one wording is already in the FAQ, one names an order: learn leaves both out).
CHOSEN = {
    "shipping-fee": [("送料無料になる条件は？", 3), ("送料って無料になりますか", 2),
                     ("Is shipping free?", 1)],
    "tracking": [("荷物が今どこにあるか知りたい", 3), ("Where is my parcel?", 2),
                 ("注文番号 20481937 の荷物はどこですか", 1)],
    "return-policy": [("サイズが合わないので返したい", 2), ("Can I send it back?", 1),
                      ("返金してほしい", 1)],
    "refund-timing": [("お金はいつ戻ってきますか", 2), ("返金してほしい", 2)],
    "payment-methods": [("後払いはできますか", 2), ("Can I pay later?", 1)],
    "gift-wrapping": [("のしをつけてほしい", 2), ("プレゼント用に包んでもらえますか", 2)],
    "cancel-order": [("間違えて注文してしまった", 2), ("注文を取りやめたい", 2)],
    "delivery-date": [("土曜日に届けてほしい", 1), ("夜に受け取りたい", 1)],
}  # fmt: skip
# How often customers said an answer did not solve it (「解決しない」), and what they asked.
REJECTION_RATE = {"refund-timing": 0.4, "cancel-order": 0.35}
REJECTION_RATE_OTHERS = 0.03
REJECTED_ASKING = {
    "refund-timing": ["返金はまだですか", "返金されていません", "When will I get my refund?"],
    "cancel-order": ["キャンセルボタンが見つからない", "発送済みでもキャンセルできますか"],
}
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
    choices: list[FaqChoice] = field(default_factory=list)
    rejections: list[FaqRejected] = field(default_factory=list)
    agent_answers: list[AgentAnswered] = field(default_factory=list)
    # The learning examples draw from a random stream of their own, so adding them left
    # the rest of the demo data as it was.
    examples: random.Random = field(default_factory=random.Random)
    channels: Sequence[str] = ()

    def share_of(self, index: int) -> float:
        """The share of conversations of the `index`-th channel."""
        return CHANNEL_SHARES[min(index, len(CHANNEL_SHARES) - 1)]

    def response_rate(self, channel: str) -> float:
        """How often the channel's customers answer the survey."""
        index = list(self.channels).index(channel)
        return RESPONSE_RATES[min(index, len(RESPONSE_RATES) - 1)]


async def seed_demo(
    records: RecordStore,
    *,
    channels: Sequence[str],
    days: int = 30,
    seed: int = 0,
    now: float | None = None,
    tz: tzinfo | None = None,
    faq_dir: Path = SAMPLE_FAQ,
) -> int:
    """Write demo conversations in time order on `channels` (registry order: the first gets
    the most); return how many conversations.

    They fill exactly the report's "last `days` days" (`period_for_days`: from midnight of
    the first of `days` calendar days in `tz` up to `now`, the records' clock by default),
    so a report of those days shows every one of them, whatever the time of day.
    Refuses (`StoreNotEmpty`) when the store already has conversations in that period, as
    demo data mixed with real records would mislead, and streams take records in time order.
    """
    now = records.clock.now() if now is None else now
    tz = tz or local_timezone()
    start = period_for_days(days, now=datetime.fromtimestamp(now, tz), tz=tz).since.timestamp()
    async for _ in records.read(ConversationRecord, since=start):
        raise StoreNotEmpty(
            "the store already has conversations in the last "
            f"{days} days; demo data goes only into an empty store"
        )
    if not channels:
        raise ValueError("demo data needs at least one channel")
    batch = _Batch(examples=random.Random(~seed), channels=list(channels))
    _generate(random.Random(seed), _faq_ids(faq_dir), start, now, batch)
    kinds: list[list[_Record]] = [
        list(batch.conversations),
        list(batch.surveys),
        list(batch.unanswered),
        list(batch.choices),
        list(batch.rejections),
        list(batch.agent_answers),
    ]
    for kind in kinds:
        for record in sorted(kind, key=_time):
            await records.add(record, at=_time(record))
    return len(batch.conversations)


_Record = (
    ConversationRecord
    | SurveyResponse
    | UnansweredMessage
    | FaqChoice
    | FaqRejected
    | AgentAnswered
)


def _time(record: _Record) -> float:
    return record.ended_at if isinstance(record, ConversationRecord) else record.time


def _faq_ids(faq_dir: Path) -> list[str]:
    try:
        loaded = [e.id for e in load_faq_dir(faq_dir).entries]
    except FaqLoadError:
        return POPULAR
    known = [i for i in POPULAR if i in loaded]
    return known if len(known) >= 6 else loaded[: len(POPULAR)] or POPULAR


def _generate(
    rng: random.Random, faq_ids: list[str], start: float, now: float, batch: _Batch
) -> None:
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
    shares = [batch.share_of(i) for i in range(len(batch.channels))]
    channel = rng.choices(list(batch.channels), shares)[0]
    customer = f"{channel}:U{rng.getrandbits(40):010x}"
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
    answered = asked and rng.random() < batch.response_rate(channel)
    batch.conversations.append(
        ConversationRecord(
            conversation_id=conv_id,
            customer_key=customer,
            channel=channel,
            started_at=started,
            ended_at=ended,
            resolution=path,  # type: ignore[arg-type]
            agent=agent,
            agent_id=Actor.console(agent).id if agent else None,
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
        group = rng.choices(range(len(MISSING)), weight_list)[0]
        text = rng.choice(MISSING[group][1])
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
        if agent is not None and first is not None:
            replied = started + 20 + first  # queued after the unanswered message
            batch.agent_answers.append(
                AgentAnswered(
                    questions=[text],
                    reply=batch.examples.choice(AGENT_REPLIES[group]),
                    agent=agent,
                    agent_id=Actor.console(agent).id,
                    customer_key=customer,
                    channel=channel,
                    conversation_id=conv_id,
                    time=min(replied, ended),
                )
            )
    _examples(batch, faq_ids, customer, channel, conv_id, faq, started)
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
                agent_id=Actor.console(agent).id if agent else None,
                faq_ids=faq,
                wait_seconds=wait,
                handle_seconds=handle,
                time=answer_at,
            )
        )


def _examples(
    batch: _Batch,
    faq_ids: list[str],
    customer: str,
    channel: ChannelName,
    conv_id: str,
    faq: list[str],
    started: float,
) -> None:
    """What the customer tapped and rejected on the way to the conversation's answers."""
    rng = batch.examples
    for n, faq_id in enumerate(faq):
        at = started + 10 + 40 * n
        question = None
        if faq_id in CHOSEN and rng.random() < 0.3:
            wordings = CHOSEN[faq_id]
            question = rng.choices([w for w, _ in wordings], [k for _, k in wordings])[0]
            others = rng.sample([i for i in faq_ids if i != faq_id], 2)
            offered = rng.sample([faq_id, *others], 3)
            batch.choices.append(
                FaqChoice(
                    question=question,
                    faq_id=faq_id,
                    offered=offered,
                    customer_key=customer,
                    channel=channel,
                    conversation_id=conv_id,
                    time=at,
                )
            )
        if rng.random() < REJECTION_RATE.get(faq_id, REJECTION_RATE_OTHERS):
            asking = REJECTED_ASKING.get(faq_id)
            if question is None and asking and rng.random() < 0.7:
                question = rng.choice(asking)
            batch.rejections.append(
                FaqRejected(
                    faq_id=faq_id,
                    question=question,
                    customer_key=customer,
                    channel=channel,
                    conversation_id=conv_id,
                    time=at + 20,
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

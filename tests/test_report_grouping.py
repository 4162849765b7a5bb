"""Grouping unanswered messages does bounded work per message, whatever is thrown at it.

The time it takes is measured in bench/report_grouping.py; here, what the bounds keep:
similar questions still group, and no message costs more than its first words.
"""

from __future__ import annotations

import random
import string

from bot.records import UnansweredMessage
from bot.reports.similar import (
    COMPARED_CHARS,
    MAX_WORDINGS,
    Units,
    group_unanswered,
    plain_units,
)


def message(text: str) -> UnansweredMessage:
    return UnansweredMessage(text=text, channel="web", conversation_id="c")


def noise(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_letters + "  ") for _ in range(length))


class CountingUnits:
    """`plain_units`, remembering how much text it was asked to read."""

    def __init__(self) -> None:
        self.lengths: list[int] = []

    def __call__(self, text: str) -> Units:
        self.lengths.append(len(text))
        return plain_units(text)


def test_long_messages_are_compared_by_their_first_words_and_still_group() -> None:
    rng = random.Random(3)
    question = "Do you have a store in Osaka or Kyoto?"
    askers = [
        message(f"{question}{ending} " + noise(rng, 4000))
        for ending in ("", " thanks", " please", "!!", " (urgent)", " ok")
    ]
    pastes = [message(noise(rng, 4000)) for _ in range(101)]
    units = CountingUnits()
    groups = group_unanswered([*pastes, *askers], {}, units_of=units)
    assert groups[0].count == 6 and groups[0].text.startswith(question)
    assert all(g.count == 1 for g in groups[1:]), "random pastes group with nothing"
    assert max(units.lengths) <= COMPARED_CHARS


def test_the_number_of_wordings_grouped_is_bounded() -> None:
    rng = random.Random(5)
    common = [message("How long does a refund take?")] * 30 + [
        message("How long does a refund take") for _ in range(10)
    ]
    rare = [message(f"question {n} " + noise(rng, 40)) for n in range(MAX_WORDINGS + 500)]
    units = CountingUnits()
    groups = group_unanswered([*rare, *common], {}, units_of=units)
    assert len(units.lengths) <= MAX_WORDINGS, "each wording analysed once, and so many at most"
    assert (groups[0].count, groups[0].text) == (40, "How long does a refund take?")

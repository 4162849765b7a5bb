"""The personal-data masker: what it finds, what it leaves alone, and that masking is stable."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.privacy.mask import (
    MASK,
    Found,
    find_personal_data,
    luhn_valid,
    mask_personal_data,
    my_number_valid,
)

# -- what customers write ------------------------------------------------------------------

_FULL_WIDTH_DIGITS = str.maketrans("0123456789-", "０１２３４５６７８９－")


def _n(draw: st.DrawFn, size: int) -> str:
    return draw(st.text("0123456789", min_size=size, max_size=size))


def _written(draw: st.DrawFn, groups: list[str]) -> str:
    """Digit groups as people type them: hyphens, spaces, nothing, or in full width."""
    sep = draw(st.sampled_from(["-", " ", "", "ー", "－"]))
    text = sep.join(groups)
    return text.translate(_FULL_WIDTH_DIGITS) if draw(st.booleans()) else text


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["mobile", "landline", "free", "intl_mobile", "intl_landline"]))
    if kind in ("mobile", "intl_mobile"):
        head = draw(st.sampled_from(["070", "080", "090", "050"]))
        groups = [head, _n(draw, 4), _n(draw, 4)]
    elif kind == "free":
        groups = ["0120", _n(draw, 3), _n(draw, 3)]
    else:
        area = draw(st.integers(1, 4))
        first = draw(st.sampled_from("123456789"))
        groups = ["0" + first + _n(draw, area - 1), _n(draw, 5 - area), _n(draw, 4)]
    if kind.startswith("intl"):
        groups[0] = groups[0][1:]
        return draw(st.sampled_from(["+81 ", "+81-", "+81"])) + _written(draw, groups)
    return _written(draw, groups)


def _luhn_completed(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    if draw(st.booleans()):  # American Express, 4-6-5
        number = _luhn_completed(draw(st.sampled_from(["34", "37"])) + _n(draw, 12))
        sep = draw(st.sampled_from([" ", "-", ""]))
        return sep.join([number[:4], number[4:10], number[10:]])
    length = draw(st.sampled_from([13, 14, 16, 19]))
    number = _luhn_completed(draw(st.sampled_from("23456")) + _n(draw, length - 2))
    sep = draw(st.sampled_from([" ", "-", ""]))
    return sep.join(number[i : i + 4] for i in range(0, length, 4))


@st.composite
def my_numbers(draw: st.DrawFn) -> str:
    base = _n(draw, 11)
    number = next(base + d for d in "0123456789" if my_number_valid(base + d))
    return _written(draw, [number[:4], number[4:8], number[8:]])


_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_WORD = st.text(_ALNUM, min_size=1, max_size=8)
_LOCAL = st.builds("{}{}{}".format, _WORD, st.sampled_from(["", ".", "_", "+", "-"]), _WORD)
_LABEL = st.builds("{}{}{}".format, _WORD, st.sampled_from(["", "-"]), _WORD)


@st.composite
def emails(draw: st.DrawFn) -> str:
    labels = draw(st.lists(_LABEL, min_size=1, max_size=3))
    top = draw(st.sampled_from(["jp", "com", "net", "co.jp", "ne.jp"]))
    return f"{draw(_LOCAL)}@{'.'.join(labels)}.{top}"


@st.composite
def postal_codes(draw: st.DrawFn) -> tuple[str, str]:
    """A postal code and the words that say it is one (which stay)."""
    code = _n(draw, 3) + draw(st.sampled_from(["-", ""])) + _n(draw, 4)
    return draw(st.sampled_from(["〒", "〒 ", "郵便番号：", "Zip "])), code


def _alone(item: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    return item.map(lambda text: ("", text))


# (context, item): the item is the personal data, the context what says what it is.
personal_data = st.one_of(
    _alone(phone_numbers()),
    _alone(card_numbers()),
    _alone(my_numbers()),
    _alone(emails()),
    postal_codes(),
)

# Words around the data: Japanese and English, punctuation, no digits or characters that
# could join the data (letters are kept away from its edges by the spaces around it).
filler = st.text(
    st.sampled_from(list("ごちゅうもんのけんでお問い合わせ住所確認します、。！？「」 abcXYZ:;/")),
    max_size=30,
)


@st.composite
def texts_with_planted_data(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], list[str]]:
    """A message with personal data at known places, and the words between them."""
    pieces = draw(st.lists(personal_data, min_size=1, max_size=4))
    words = [draw(filler) for _ in range(len(pieces) + 1)]
    text, spans = words[0], []
    for (context, piece), after in zip(pieces, words[1:], strict=True):
        text += " " + context
        spans.append((len(text), len(text) + len(piece)))
        text += piece + " " + after
    return text, spans, words


# -- properties ------------------------------------------------------------------------------


@given(texts_with_planted_data())
def test_every_planted_item_is_found_exactly_where_it_is(
    planted: tuple[str, list[tuple[int, int]], list[str]],
) -> None:
    text, spans, _ = planted
    found = find_personal_data(text)
    assert [(f.start, f.end) for f in found] == spans, [text[f.start : f.end] for f in found]


@given(texts_with_planted_data())
def test_masking_keeps_every_other_word_and_hides_every_item(
    planted: tuple[str, list[tuple[int, int]], list[str]],
) -> None:
    text, spans, words = planted
    masked = mask_personal_data(text)
    at = 0
    for word in words:  # the words between the items, in order, unchanged
        at = masked.index(word, at) + len(word)
    for start, end in spans:
        item = text[start:end]
        assert item not in masked
        assert MASK in masked


@given(st.text())
@example("電話 090-1234-5678、メール a@b.jp、カード 4111 1111 1111 1111")
@example("4111 1111 1111 1111 2222 3333 4444 5555")
def test_masking_twice_is_masking_once(text: str) -> None:
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once
    assert find_personal_data(once) == []


@given(st.text(st.characters(exclude_categories=["Nd"]).filter(lambda c: c not in "@＠")))
def test_text_without_digits_or_at_signs_is_never_changed(text: str) -> None:
    assert mask_personal_data(text) == text


# -- tables ----------------------------------------------------------------------------------

MASKED = [
    ("電話は090-1234-5678です", "電話は•••-••••-5678です"),
    ("03-1234-5678", "••-••••-5678"),
    ("0120-123-456", "••••-••3-456"),
    ("09012345678", "•••••••5678"),
    ("+81 90-1234-5678", "+81 ••-••••-5678"),
    ("+81-3-1234-5678", "+81-•-••••-5678"),
    ("+81 (0)90 1234 5678", "+81 (•)•• •••• 5678"),
    ("０９０ー１２３４ー５６７８", "•••ー••••ー５６７８"),
    ("03(1234)5678", "••(••••)5678"),
    ("mail: hanako.yamada@example.co.jp まで", "mail: h•••@•••.jp まで"),
    ("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ｈ•••＠•••.ｃｏｍ"),
    ("〒123-4567 東京都", "〒•••-•••• 東京都"),
    ("123-4567 東京都千代田区", "•••-•••• 東京都千代田区"),
    ("郵便番号：１２３－４５６７", "郵便番号：•••－••••"),
    ("カード 4111 1111 1111 1111 です", "カード •••• •••• •••• 1111 です"),
    ("4111-1111-1111-1111", "••••-••••-••••-1111"),
    ("3782 822463 10005", "•••• •••••• •0005"),
    ("マイナンバーは1234 5678 9018", "マイナンバーは•••• •••• ••••"),
    ("123456789018", "••••••••••••"),
]


@pytest.mark.parametrize(("text", "masked"), MASKED)
def test_personal_data_is_masked_keeping_its_shape(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


NOT_PERSONAL = [
    "2024-01-01",
    "2024/01/01 10:30",
    "営業時間は09:00-18:00です",
    "¥12,345",
    "合計 1,234,567円（税込）",
    "注文番号 123-4567",  # a bare 123-4567 is no postal code without an address
    "注文番号 A-20240101-0001",
    "ORD-0312345678",  # a phone number's digits inside an order number
    "0312345678-2",
    "注文番号 1234567890",  # ten digits, but no leading 0
    "伝票番号 1234-5678-9012",  # twelve digits failing My Number's check digit
    "4111 1111 1111 1112",  # card-like, failing Luhn
    "1712345678123",  # a millisecond timestamp: cards begin with 2-6
    "ts 1712345678.123456",
    "192.168.0.1",
    "version 3.12.1",
    "U4af4980629abcdef0123456789abcdef",
    "123e4567-e89b-12d3-a456-426614174000",
    "@channel を見てください",
    "090",
    "サイズは 27.5cm、3点で 0120 円引き",
]


@pytest.mark.parametrize("text", NOT_PERSONAL)
def test_what_only_looks_personal_is_left_alone(text: str) -> None:
    assert find_personal_data(text) == []
    assert mask_personal_data(text) == text


def test_found_items_name_their_kind() -> None:
    text = "a@b.jp 090-1234-5678 〒123-4567 4111111111111111 123456789018"
    kinds = [(f.kind, text[f.start : f.end]) for f in find_personal_data(text)]
    assert kinds == [
        ("email", "a@b.jp"),
        ("phone", "090-1234-5678"),
        ("postal_code", "123-4567"),
        ("card", "4111111111111111"),
        ("my_number", "123456789018"),
    ]
    assert isinstance(find_personal_data(text)[0], Found)


def test_my_number_check_digit_follows_the_ordinance() -> None:
    # 1×6 + 2×5 + 3×4 + 4×3 + 5×2 + 6×7 + 7×6 + 8×5 + 9×4 + 0×3 + 1×2 = 212; 212 mod 11 = 3
    assert my_number_valid("123456789018")
    assert not my_number_valid("123456789011")
    assert my_number_valid("000000000000")  # remainder 0: check digit 0

"""Personal data in free text, found and masked before the text leaves for Slack, the logs
or the reports (docs/security.md, "Personal data").

Found: Japanese phone numbers (090-1234-5678, 03-1234-5678, 0120-123-456, +81 90-1234-5678,
with or without separators, in full-width digits too), e-mail addresses, postal codes
(〒123-4567; a bare 123-4567 only in an address's context), card-like numbers (13–19 digits
passing the Luhn check) and My Number candidates (12 digits passing the check digit of
総務省令第八十五号 第五条).

Masking keeps the shape, so an agent still reads what the customer gave and can ask for it
("the number ending 5678"): `•••-••••-5678`, `•••• •••• •••• 1111`, `•••• •••• ••••`,
`〒•••-••••`, `h•••@•••.jp`. Only the personal part changes; every other character of the
text stays as it was, and masking a masked text changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["phone", "email", "postal_code", "card", "my_number"]

MASK = "•"  # not `*`: Slack's mrkdwn would read asterisks as bold

# Characters customers type between digit groups that mean a hyphen.
_DASHES = "‐‑‒–—―−－ー﹣"
# Full-width ASCII (！ … ～, digits and ＠ included) read as ASCII, dashes as '-', the
# ideographic space as ' ': one character for one, so a position in the view is the same
# in the text.
_VIEW_TABLE: dict[int, str] = {
    **{code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},
    **dict.fromkeys(map(ord, _DASHES), "-"),
    0x3000: " ",
}
_VIEW = str.maketrans(_VIEW_TABLE)


def _matching_view(text: str) -> str:
    """`text` as the patterns read it (see `_VIEW`), position for position."""
    return text.translate(_VIEW)


# A number starts and ends where no letter or digit touches it (`ORD-0312345678` and
# `0312345678-2` are not phone numbers); Japanese text around it is fine.
_START = r"(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)"
_END = r"(?![0-9A-Za-z])(?!-[0-9])"
_GROUP_SEP = r"(?:[ -]|\)[ ]?|[ ]?\()?"  # 03-1234-5678, 03 1234 5678, 03(1234)5678

# Each pattern opens with a look at its first character: the scan then skips the rest fast.
_PHONE = re.compile(
    r"(?=[+(0])" + _START + r"(?:\+81[ -]?(?:\(0\)[ -]?)?|\(?0)"
    r"\d{1,4}" + _GROUP_SEP + r"\d{1,4}" + _GROUP_SEP + r"\d{3,4}" + _END,
    re.ASCII,
)
_EMAIL = re.compile(
    r"(?=[A-Za-z0-9._%+-])(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])",
    re.ASCII,
)
_CARD = re.compile(
    r"(?=[2-6])" + _START + r"(?:[2-6]\d{12,18}"  # written without separators
    r"|[2-6]\d{3}(?P<s>[ -])\d{4}(?:(?P=s)\d{4}){1,2}(?:(?P=s)\d{1,4})?(?!(?P=s)\d)"  # 4-4-4-4
    r"|3\d{3}(?P<a>[ -])\d{6}(?P=a)\d{5}(?!(?P=a)\d))" + _END,  # American Express: 4-6-5
    re.ASCII,
)
# Four digits more in the same writing make it a longer number, not a My Number.
_MY_NUMBER = re.compile(
    r"(?=[0-9])" + _START + r"\d{4}(?P<m>[ -]?)\d{4}(?P=m)\d{4}(?!(?P=m)\d)" + _END, re.ASCII
)
_PREFECTURES = (
    "北海道|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|栃木県|群馬県|埼玉県|千葉県|"
    "東京都|神奈川県|新潟県|富山県|石川県|福井県|山梨県|長野県|岐阜県|静岡県|愛知県|三重県|"
    "滋賀県|京都府|大阪府|兵庫県|奈良県|和歌山県|鳥取県|島根県|岡山県|広島県|山口県|徳島県|"
    "香川県|愛媛県|高知県|福岡県|佐賀県|長崎県|熊本県|大分県|宮崎県|鹿児島県|沖縄県"
)
# A postal code is 〒123-4567, or 123-4567 said to be one, or followed by a prefecture:
# alone, 123-4567 is as likely an order number.
_POSTAL = re.compile(
    r"(?=[〒郵住PpZz0-9])(?:〒|郵便番号|住所|(?i:postal code|post code|zip code|zip))[ ]?[:は]?[ ]?"
    r"(?P<code>\d{3}-?\d{4})"
    + _END
    + r"|"
    + _START
    + r"(?P<before>\d{3}-\d{4})(?=[ ]?(?:"
    + _PREFECTURES
    + "))",
    re.ASCII,
)


@dataclass(frozen=True)
class Found:
    """A piece of personal data: its kind and where it is in the text (`text[start:end]`)."""

    kind: Kind
    start: int
    end: int


def luhn_valid(digits: str) -> bool:
    """True when `digits` pass the Luhn check (card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def my_number_valid(digits: str) -> bool:
    """True when the 12 `digits` end in My Number's check digit (総務省令第八十五号 第五条):
    11 − (Σ Pn × Qn mod 11), 0 when the remainder is 0 or 1; Pn is the n-th of the first
    eleven digits counted from the right, Qn is n + 1 for n ≤ 6 and n − 5 above."""
    if len(digits) != 12:
        return False
    base = digits[:11]
    total = sum(int(base[-n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
    remainder = total % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return int(digits[11]) == check


def _digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


def _phone_valid(number: str) -> bool:
    """Ten digits from 0 (landlines, 0120, 0570), eleven for 0X0 (mobiles, 050, 0800),
    or the same after +81 without the 0."""
    digits = _digits(number)
    if number.startswith("+81"):
        national = "0" + _digits(number[3:].replace("(0)", "", 1))
    elif digits.startswith("0"):
        national = digits
    else:
        return False
    if national[1:2] in ("", "0"):
        return False
    if len(national) == 10:
        return True
    return len(national) == 11 and national[2] == "0"


def _card_valid(number: str) -> bool:
    digits = _digits(number)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


# kind, pattern, the groups holding the data (None: the whole match), the check of a
# candidate, and the fewest digits it has (0: the e-mail rule, which needs an at sign).
_Rule = tuple[Kind, re.Pattern[str], tuple[str | None, ...], Callable[[str], bool], int]
_RULES: tuple[_Rule, ...] = (
    ("email", _EMAIL, (None,), lambda _: True, 0),
    ("card", _CARD, (None,), _card_valid, 13),
    ("my_number", _MY_NUMBER, (None,), lambda n: my_number_valid(_digits(n)), 12),
    ("phone", _PHONE, (None,), _phone_valid, 10),
    ("postal_code", _POSTAL, ("code", "before"), lambda _: True, 7),
)


def _candidates(view: str) -> list[Found]:
    found: list[Found] = []
    digits = sum(map(view.count, "0123456789"))
    has_at = "@" in view
    for kind, pattern, groups, valid, fewest_digits in _RULES:
        if (fewest_digits == 0 and not has_at) or digits < fewest_digits:
            continue  # cannot be in this text: skip the scan
        pos = 0
        while (match := pattern.search(view, pos)) is not None:
            spans = [match.span(group) if group else match.span() for group in groups]
            start, end = next((span for span in spans if span[0] >= 0), (-1, -1))
            if start >= 0 and valid(view[start:end]):
                found.append(Found(kind, start, end))
                pos = match.end()
            else:
                pos = match.start() + 1  # a rejected candidate must not hide a later one
    return found


def find_personal_data(text: str) -> list[Found]:
    """Every piece of personal data in `text`, in order, none overlapping (the longest wins)."""
    view = _matching_view(text)
    chosen: list[Found] = []
    for item in sorted(_candidates(view), key=lambda f: (f.start, f.start - f.end)):
        if not chosen or item.start >= chosen[-1].end:
            chosen.append(item)
    return chosen


def _hide_digits(piece: str, view: str, keep_last: int = 0, skip_first: int = 0) -> str:
    """`piece` with its digits masked, except the first `skip_first` and last `keep_last`."""
    positions = [i for i, ch in enumerate(view) if "0" <= ch <= "9"]
    hidden = set(positions[skip_first : len(positions) - keep_last])
    return "".join(MASK if i in hidden else ch for i, ch in enumerate(piece))


def _masked(kind: Kind, piece: str, view: str) -> str:
    """How one piece of personal data is shown: its shape, with what identifies it hidden."""
    if kind == "phone":
        # The last four digits stay, as on a receipt; +81 is not personal.
        return _hide_digits(piece, view, keep_last=4, skip_first=2 if view[0] == "+" else 0)
    if kind == "card":
        return _hide_digits(piece, view, keep_last=4)
    if kind == "email":
        at, dot = view.index("@"), view.rindex(".")
        return f"{piece[0]}{MASK * 3}{piece[at]}{MASK * 3}.{piece[dot + 1 :]}"
    return _hide_digits(piece, view)  # My Number and postal codes: no digit is harmless


def _apply(text: str, found: list[Found]) -> str:
    view = _matching_view(text)
    out, at = [], 0
    for item in found:
        out.append(text[at : item.start])
        piece, piece_view = text[item.start : item.end], view[item.start : item.end]
        out.append(_masked(item.kind, piece, piece_view))
        at = item.end
    out.append(text[at:])
    return "".join(out)


def mask_personal_data(text: str) -> str:
    """`text` with every piece of personal data masked; everything else unchanged.

    Masking again changes nothing: should a masked piece ever reveal a new candidate, it is
    masked too (each pass hides letters or digits, so this ends)."""
    while found := find_personal_data(text):
        text = _apply(text, found)
    return text

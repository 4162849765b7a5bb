"""The two rich menus: bot mode (the top FAQ questions and 「人と話す」, the account's default)
and person mode (「ボットに戻る」 「待ち状況」 「よくある質問」, linked to a customer while a
person is coming or talking). Their images are drawn here with Pillow, the Japanese set in
Noto Sans CJK from the `noto-cjk-sans-jp-regular` package (nothing is downloaded).

Every button is a postback whose data is a payload the flow already understands
(`faq:<id>`, `handoff`, `back_to_bot`, `queue_status`, `faq_menu`), and whose display text
is its label, so the chat shows what the customer tapped.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from functools import cache

from linebot.v3.messaging import (
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from PIL import Image, ImageDraw, ImageFont

from bot.faq import FaqEntry
from bot.flow.config import BACK_TO_BOT, FAQ_MENU, FAQ_PREFIX, HANDOFF, QUEUE_STATUS
from bot.texts import Texts
from channels.line.render import MAX_DATA, shorten

WIDTH, HEIGHT = 2500, 843  # LINE's compact full-width size
BOT_MENU_NAME = "Tsunagu bot mode"
PERSON_MENU_NAME = "Tsunagu person mode"
MAX_DISPLAY_TEXT = 300
# Colours: the bot's buttons light, the way to a person and back in the accent colour.
PLAIN, ACCENT, INK, ON_ACCENT, EDGE = "#f5f6f8", "#06c755", "#1d2330", "#ffffff", "#d0d5dd"


@dataclass(frozen=True)
class Button:
    """One area of a menu: what it says and the payload its tap sends."""

    label: str
    payload: str
    accent: bool = False


@dataclass(frozen=True)
class MenuDesign:
    """A rich menu before it exists on LINE: its name, chat bar and buttons in a grid."""

    name: str
    chat_bar: str
    buttons: list[Button]
    columns: int

    @property
    def rows(self) -> int:
        """Rows of the grid."""
        return -(-len(self.buttons) // self.columns)

    def cell(self, index: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the button at `index`, covering the image exactly."""
        row, column = divmod(index, self.columns)
        x0, x1 = WIDTH * column // self.columns, WIDTH * (column + 1) // self.columns
        y0, y1 = HEIGHT * row // self.rows, HEIGHT * (row + 1) // self.rows
        return x0, y0, x1 - x0, y1 - y0


def bot_menu(texts: Texts, top: list[FaqEntry], language: str = "ja") -> MenuDesign:
    """Bot mode: up to five of the top FAQ questions and 「人と話す」, in two rows of three."""
    buttons = [Button(e.label_for(language), FAQ_PREFIX + e.id) for e in top[:5]]
    buttons.append(Button(texts.get("menu_talk_to_human", language), HANDOFF, accent=True))
    columns = 3 if len(buttons) > 2 else len(buttons)
    return MenuDesign(BOT_MENU_NAME, _bar(texts, "menu_bar_bot", language), buttons, columns)


def person_menu(texts: Texts, language: str = "ja") -> MenuDesign:
    """Person mode: back to the bot, the wait, the common questions."""
    buttons = [
        Button(texts.get("menu_back_to_bot", language), BACK_TO_BOT, accent=True),
        Button(texts.get("menu_queue_status", language), QUEUE_STATUS),
        Button(texts.get("menu_faq", language), FAQ_MENU),
    ]
    return MenuDesign(PERSON_MENU_NAME, _bar(texts, "menu_bar_person", language), buttons, 3)


def _bar(texts: Texts, name: str, language: str) -> str:
    return texts.get(name, language)[:14]  # LINE's limit for the chat bar


def request_of(design: MenuDesign) -> RichMenuRequest:
    """The Messaging API's rich-menu object for a design."""
    areas = []
    for index, button in enumerate(design.buttons):
        x, y, width, height = design.cell(index)
        areas.append(
            RichMenuArea(
                bounds=RichMenuBounds(x=x, y=y, width=width, height=height),
                action=PostbackAction(
                    label=shorten(button.label, 20),
                    data=button.payload[:MAX_DATA],
                    displayText=shorten(button.label, MAX_DISPLAY_TEXT),
                ),
            )
        )
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=False,
        name=design.name,
        chatBarText=design.chat_bar,
        areas=areas,
    )


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    from noto_cjk_sans_jp_regular import FONT_PATH

    return ImageFont.truetype(str(FONT_PATH), size)


def draw(design: MenuDesign) -> bytes:
    """The menu's image as PNG: one tile per button, its label centred and wrapped."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PLAIN)
    pen = ImageDraw.Draw(image)
    for index, button in enumerate(design.buttons):
        x, y, width, height = design.cell(index)
        pen.rectangle(
            (x, y, x + width - 1, y + height - 1),
            fill=ACCENT if button.accent else PLAIN,
            outline=EDGE,
            width=4,
        )
        _label(pen, button.label, (x, y, width, height), ON_ACCENT if button.accent else INK)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _label(pen: ImageDraw.ImageDraw, text: str, box: tuple[int, int, int, int], ink: str) -> None:
    """Centre `text` in `box`, on up to three lines, as large as fits."""
    x, y, width, height = box
    for size in (96, 84, 72, 60, 52, 44):
        font = _font(size)
        per_line = max(1, int((width * 0.86) // pen.textlength("あ", font=font)))
        lines = _wrap(text, per_line)
        line_height = int(size * 1.3)
        fits = all(pen.textlength(line, font=font) <= width * 0.9 for line in lines)
        if fits and len(lines) <= 3 and len(lines) * line_height <= height * 0.8:
            break
    lines = lines[:3]
    top = y + (height - len(lines) * line_height) // 2
    for n, line in enumerate(lines):
        left = x + (width - pen.textlength(line, font=font)) / 2
        pen.text((left, top + n * line_height), line, font=font, fill=ink)


def _wrap(text: str, per_line: int) -> list[str]:
    """Lines of at most `per_line` wide characters (words kept whole for spaced text)."""
    if " " in text:
        return textwrap.wrap(text, max(per_line * 2, 1)) or [text]
    return [text[i : i + per_line] for i in range(0, len(text), per_line)] or [text]

"""The FAQ file format: entries, files and the loaded set, as pydantic models."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Any kana or CJK ideograph marks a text as Japanese; admins rarely mix otherwise.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def is_japanese(text: str) -> bool:
    """Whether `text` contains Japanese script (kana or kanji)."""
    return bool(_JAPANESE.search(text))


def language_of(locale: str | None) -> str | None:
    """The language part of a BCP 47 locale: 'en-US' -> 'en', 'ja_JP' -> 'ja'."""
    if not locale:
        return None
    return locale.replace("_", "-").split("-")[0].lower() or None


class FaqEntry(BaseModel):
    """One question customers ask and the answer the bot gives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$"),
        Field(description="Unique id: lowercase letters, digits and '-'."),
    ]
    question: NonEmpty = Field(description="The question as customers would ask it.")
    alternatives: list[NonEmpty] = Field(
        default_factory=list, description="Other ways customers ask the same thing."
    )
    answer: NonEmpty | dict[str, NonEmpty] = Field(
        description="The answer text, or a mapping of language (ja, en, ...) to text."
    )
    tags: list[NonEmpty] = Field(
        default_factory=list, description="Free labels; 'top' puts the entry in greetings."
    )
    keywords: list[NonEmpty] = Field(
        default_factory=list, description="Words that point strongly to this entry."
    )

    @field_validator("answer")
    @classmethod
    def _answer_not_empty(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict) and not value:
            raise ValueError("answer needs at least one language")
        return value

    @property
    def texts(self) -> list[str]:
        """The question and its alternatives: everything a customer might type."""
        return [self.question, *self.alternatives]

    def answer_for(self, locale: str | None) -> str:
        """The answer in the customer's language: exact locale, language, 'ja', then first."""
        if isinstance(self.answer, str):
            return self.answer
        candidates = [locale, language_of(locale), "ja"]
        for key in candidates:
            if key and key in self.answer:
                return self.answer[key]
        return next(iter(self.answer.values()))

    def label_for(self, locale: str | None) -> str:
        """Short text for a choice button, in the customer's language when we have it."""
        lang = language_of(locale)
        if lang and lang != "ja" and is_japanese(self.question):
            for alt in self.alternatives:
                if not is_japanese(alt):
                    return alt
        if lang == "ja" and not is_japanese(self.question):
            for alt in self.alternatives:
                if is_japanese(alt):
                    return alt
        return self.question


class FaqFile(BaseModel):
    """One YAML file of the FAQ directory."""

    model_config = ConfigDict(extra="forbid")

    faqs: list[FaqEntry] = Field(default_factory=list, description="The entries.")
    synonyms: list[list[NonEmpty]] = Field(
        default_factory=list,
        description="Groups of words customers use for one thing, e.g. [送料, 配送料, postage].",
    )


@dataclass(frozen=True)
class FaqSet:
    """Everything loaded from an FAQ directory."""

    entries: tuple[FaqEntry, ...] = ()
    synonyms: tuple[tuple[str, ...], ...] = ()
    files: tuple[Path, ...] = ()
    # Where each entry was defined (file, line), for messages naming a place.
    origins: dict[str, tuple[Path, int]] = field(default_factory=dict)

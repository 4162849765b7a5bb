"""FAQ answering: the YAML format, the matcher that decides, and the admin tooling."""

from bot.faq.decision import Decision, MatchSettings, Outcome, ScoredEntry
from bot.faq.library import FaqLibrary
from bot.faq.loader import FaqLoadError, FaqProblem, load_faq_dir
from bot.faq.model import FaqEntry, FaqSet

__all__ = [
    "Decision",
    "FaqEntry",
    "FaqLibrary",
    "FaqLoadError",
    "FaqProblem",
    "FaqSet",
    "MatchSettings",
    "Outcome",
    "ScoredEntry",
    "load_faq_dir",
]

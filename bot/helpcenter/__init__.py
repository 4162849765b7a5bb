"""The help center: the FAQ as server-rendered pages customers search on their own.

It shares the bot's FAQ, matcher and reports: a search is decided by the same matcher that
answers chat messages, searches with no result join the bot's unanswered questions on
/admin, and readers' "did this solve it?" answers sit next to each entry's CES.
"""

from bot.helpcenter.router import HelpCenter

__all__ = ["HelpCenter"]

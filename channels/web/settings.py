"""The web channel's name and settings.

The web channel is always on: it is how the widget and the console's customers talk to us.
Its knobs (`SECRET_KEY`, `WEB_TOKEN_TTL_SECONDS`, `CORS_ORIGINS`, the `WEB_*` limits) are
part of the core `Settings`, since the app factory applies them to the whole site.
"""

from __future__ import annotations

from bot.settings import ChannelSettings

NAME = "web"  # the channel's name: in customer keys (`web:<user>`), records and lanes


class WebSettings(ChannelSettings):
    """Nothing of its own to read: the web channel runs in every process."""

    @property
    def enabled(self) -> bool:
        """Always: the widget's API is part of every Tsunagu."""
        return True

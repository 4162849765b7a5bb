"""Person mode the customer can see: the desks' events switch the LINE side.

A desk (`bot.ports.Desk`) that hears every conversation's events and, for LINE customers:
links the person-mode rich menu when they join the queue, unlinks it when they are back with
the bot or the conversation ends, and marks their messages read when an agent claims or
takes over the conversation. None of it may hold a conversation up: a failure is logged
and forgotten (the customer keeps whichever menu they had).
"""

from __future__ import annotations

import logging

from bot.conversation import DeskEvent
from channels.line.client import LineApi
from channels.line.read_marks import ReadMarks
from channels.line.settings import LineSettings

log = logging.getLogger("tsunagu.line")

LINK_ON = ("escalated",)
UNLINK_ON = ("cancelled", "closed", "agent_closed")
READ_ON = ("claimed", "taken_over")


def line_user(customer_key: str) -> str | None:
    """The LINE user id of a `line:U…` customer key; None for another channel's."""
    channel, _, user_id = customer_key.partition(":")
    return user_id if channel == "line" and user_id else None


class PersonMode:
    """Rich-menu switching and read marks, driven by the desks' events."""

    name = "line_person_mode"

    def __init__(self, api: LineApi, settings: LineSettings, reads: ReadMarks):
        self.api = api
        self.settings = settings
        self.reads = reads

    async def notify(self, event: DeskEvent) -> None:
        """Act on one desk event (idempotent: linking or unlinking twice is harmless)."""
        user_id = line_user(event.customer_key)
        if user_id is None:
            return
        if event.kind in READ_ON:
            await self.reads.mark_read(user_id)
        menu = self.settings.person_menu
        if menu is None:
            return
        try:
            if event.kind in LINK_ON:
                await self.api.link_rich_menu(user_id, menu)
            elif event.kind in UNLINK_ON:
                await self.api.unlink_rich_menu(user_id)
        except Exception as exc:
            log.warning(
                "line: rich menu not switched",
                extra={"event": event.kind, "user": user_id, "error": repr(exc)[:200]},
            )

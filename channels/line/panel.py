"""The LINE card of /admin and `tsunagu report`: message cost, the push budget, and the
account settings that would make customers get two answers."""

from __future__ import annotations

import json
import logging
import math

from redis.asyncio import Redis

from bot.clock import SYSTEM_CLOCK, Clock
from bot.panels import Panel, PanelFigure
from channels.line.client import BotInfo, LineApi, Quota
from channels.line.cost import MonthCounts, QuotaReader, SendCounter, month_progress
from channels.line.keys import LineKeys

log = logging.getLogger("tsunagu.line")

WARN_FROM = 0.8  # share of the quota used from which the card warns
BOT_INFO_SECONDS = 7 * 24 * 3600
TWO_ANSWERS = (
    "LINE's own chat is on (LINE Official Account Manager → Response settings → Chat): "
    "turn its auto-response messages off, or customers get two answers to each message."
)
READ_AT_ONCE = (
    "LINE's chat is off, so LINE shows 既読 as soon as a message arrives. Turn Chat on "
    "(with auto-responses off) to show 既読 only when an agent opens the conversation."
)


async def check_bot_info(api: LineApi, redis: Redis, keys: LineKeys) -> BotInfo | None:
    """Read the bot's chat settings (`GET /v2/bot/info`) at start-up, keep them for the
    card, and warn in the log when customers would get two answers."""
    try:
        info = await api.bot_info()
    except Exception as exc:
        log.warning("line: bot info not read", extra={"error": repr(exc)[:200]})
        return None
    await redis.set(
        keys.bot_info(),
        json.dumps({"chat_mode": info.chat_mode, "mark_as_read_mode": info.mark_as_read_mode}),
        ex=BOT_INFO_SECONDS,
    )
    if info.chat_mode == "chat":
        log.warning("line: %s", TWO_ANSWERS, extra={"chat_mode": info.chat_mode})
    return info


class LineCostPanel:
    """A `bot.ports.PanelSource`: pushes used of the quota, the share of free replies,
    the projection to the month's end, the budget, and the account's chat settings."""

    def __init__(
        self,
        counter: SendCounter,
        quota: QuotaReader,
        redis: Redis,
        keys: LineKeys,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.counter = counter
        self.quota = quota
        self.redis = redis
        self.keys = keys
        self.clock = clock

    async def panel(self) -> Panel:
        """The card as of now."""
        counts = await self.counter.month()
        quota = await self.quota.read()
        stored = await self.redis.get(self.keys.bot_info())
        chat_mode = json.loads(stored).get("chat_mode") if stored else None
        return build_panel(
            counts,
            quota,
            budget=self.counter.budget,
            progress=month_progress(self.clock.now()),
            chat_mode=chat_mode,
        )


def build_panel(
    counts: MonthCounts,
    quota: Quota | None,
    *,
    budget: int | None,
    progress: float,
    chat_mode: str | None,
) -> Panel:
    """The card's figures and warnings from this month's counts and LINE's own figures."""
    pushes, replies = counts.total("push"), counts.total("reply")
    used = quota.used if quota is not None else pushes
    limit = quota.limit if quota is not None else None
    projected = math.ceil(used / progress) if progress > 0.02 else None
    figures = [
        _usage(used, limit, pushes, quota is not None),
        PanelFigure(
            name="Free replies",
            value=_pct(counts.free_share),
            detail=f"{replies} replies (free), {pushes} pushes by Tsunagu",
        ),
        PanelFigure(
            name="Projected by month end",
            value="–" if projected is None else f"{projected:,}",
            detail="pushes at this month's pace"
            + (f" (quota {limit:,})" if limit is not None else ""),
            warn=projected is not None and limit is not None and projected > limit,
        ),
        PanelFigure(
            name="Pushes by reason",
            value=str(pushes),
            detail=" · ".join(
                f"{reason} {n}" for reason, n in sorted(counts.counts.get("push", {}).items())
            )
            or "none yet",
        ),
    ]
    warnings: list[str] = []
    notes: list[str] = []
    if limit and used >= WARN_FROM * limit:
        warnings.append(
            f"LINE pushes are at {used / limit:.0%} of this month's quota ({used:,} of {limit:,})."
        )
    if projected is not None and limit is not None and projected > limit and used < limit:
        warnings.append(
            f"At this pace the month ends at about {projected:,} pushes, over the quota of "
            f"{limit:,}."
        )
    if budget is not None:
        skipped = counts.total("skipped")
        reached = pushes >= budget
        figures.append(
            PanelFigure(
                name="Push budget",
                value=f"{pushes:,} / {budget:,}",
                detail=f"{skipped} optional pushes not sent",
                meter=pushes / budget if budget else 1.0,
                warn=reached,
            )
        )
        if reached:
            warnings.append(
                f"The push budget (LINE_PUSH_BUDGET={budget:,}) is reached: optional pushes "
                "(surveys after an agent's close, queue notices, follow-ups) are not sent "
                "until the month ends. Agents' replies still are."
            )
    if quota is None:
        notes.append("LINE's quota could not be read just now; the figures are Tsunagu's own.")
    if chat_mode == "chat":
        warnings.append(TWO_ANSWERS)
    elif chat_mode == "bot":
        notes.append(READ_AT_ONCE)
    return Panel(
        id="line-cost",
        title=f"LINE messages, {counts.month}",
        help="Replies with a reply token are free; pushes count against the account's "
        "monthly quota (LINE's count, read every few minutes).",
        figures=figures,
        warnings=warnings,
        notes=notes,
    )


def _usage(used: int, limit: int | None, ours: int, from_line: bool) -> PanelFigure:
    source = f"LINE's count; {ours:,} sent by Tsunagu" if from_line else "Tsunagu's count"
    if limit is None:
        return PanelFigure(name="Pushes this month", value=f"{used:,}", detail=source)
    return PanelFigure(
        name="Pushes this month",
        value=f"{used:,} / {limit:,}",
        detail=source,
        meter=used / limit if limit else 1.0,
        warn=bool(limit) and used >= WARN_FROM * limit,
    )


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"

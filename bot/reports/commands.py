"""`tsunagu report` and `tsunagu demo seed`: the reports and demo data from the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TypeVar

import click
from redis.asyncio import Redis

from bot.channel_catalog import ChannelCatalog
from bot.faq import FaqLibrary, FaqLoadError
from bot.helpcenter.store import HelpCenterStore
from bot.ports import PanelSource
from bot.privacy.records import masked_record
from bot.records import RecordStore
from bot.reports.compute import local_timezone, period_between, period_for_days
from bot.reports.model import Period, Report
from bot.reports.render import report_csv, report_text
from bot.reports.seed import StoreNotEmpty, seed_demo
from bot.reports.source import report_from_store
from bot.settings import Settings
from bot.storage import Keys, connect_with

T = TypeVar("T")
# Opens the configured channels' panels on a Redis connection (their clients closed after).
PanelsFor = Callable[[Settings, Redis], AbstractAsyncContextManager[list[PanelSource]]]
EMBEDDED_HINT = (
    "REDIS_URL is not set. Without it the records live in the embedded store inside the "
    "running server, which this command cannot reach: open /admin on the server instead "
    "(or set REDIS_URL to the Redis the server uses)."
)


def with_record_store(settings: Settings, work: Callable[[RecordStore], Awaitable[T]]) -> T:
    """Run `work` on the record store at REDIS_URL, closing the connection afterwards."""
    return with_records_and_redis(settings, lambda store, _redis: work(store))


def with_records_and_redis(
    settings: Settings, work: Callable[[RecordStore, Redis], Awaitable[T]]
) -> T:
    """Run `work` on the record store at REDIS_URL and its connection, closing it after."""
    if not settings.redis_url:
        raise click.ClickException(EMBEDDED_HINT)

    async def run() -> T:
        redis = connect_with(settings)
        try:
            store = RecordStore(
                redis,
                Keys(settings.key_prefix),
                retention_days=settings.records_retention_days,
                shown=masked_record if settings.pii_mask_reports else None,
            )
            return await work(store, redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


async def _with_panels(
    settings: Settings,
    redis: Redis,
    panels_for: PanelsFor | None,
    store: RecordStore,
    faq: FaqLibrary | None,
    period: Period,
    views: HelpCenterStore | None,
    channel_labels: dict[str, str],
) -> Report:
    if panels_for is None:
        return await report_from_store(
            store, faq, period, help_views=views, channel_labels=channel_labels
        )
    async with panels_for(settings, redis) as panels:
        return await report_from_store(
            store, faq, period, help_views=views, panels=panels, channel_labels=channel_labels
        )


def _catalog() -> ChannelCatalog:
    """The registered channels, handed down by `tsunagu` (none when run on its own)."""
    return click.get_current_context().find_object(ChannelCatalog) or ChannelCatalog()


def _period(since: datetime | None, until: datetime | None, days: int) -> Period:
    tz = local_timezone()
    if since is None and until is None:
        return period_for_days(days, tz=tz)
    last = until.date() if until else datetime.now(tz).date()
    first = since.date() if since else last
    try:
        return period_between(first, last, tz=tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since/--until") from exc


def report_command(panels_for: PanelsFor | None = None) -> click.Command:
    """`tsunagu report`; `panels_for` opens the configured channels' panels (the
    composition root passes it: the reports know no channel)."""

    @click.command()
    @click.option(
        "--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD), included."
    )
    @click.option(
        "--until",
        type=click.DateTime(["%Y-%m-%d"]),
        help="Last day (YYYY-MM-DD), included. Default: today.",
    )
    @click.option(
        "--days",
        type=click.IntRange(1, 3660),
        default=7,
        show_default=True,
        help="Without --since/--until: the last N days, today included.",
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "csv", "json"]),
        default="text",
        show_default=True,
        help="text for reading, csv for a spreadsheet, json for other tools.",
    )
    def report(since: datetime | None, until: datetime | None, days: int, fmt: str) -> None:
        """CES, deflection, handoff and wait figures for a period, from the Redis at REDIS_URL.

        Days are calendar days in the local timezone (set TZ to change it).
        """
        settings = Settings()
        if not settings.redis_url:
            raise click.ClickException(EMBEDDED_HINT)
        period = _period(since, until, days)
        labels = _catalog().label_map("en")
        try:
            faq: FaqLibrary | None = FaqLibrary(settings.faq_dir, settings.match_settings())
        except FaqLoadError as exc:
            click.echo(f"FAQ not loaded, showing entry ids only: {exc}", err=True)
            faq = None

        def figures(store: RecordStore, redis: Redis) -> Awaitable[Report]:
            views = None
            if settings.help_center:
                keys = Keys(settings.key_prefix)
                retention = settings.records_retention_days
                views = HelpCenterStore(redis, keys, store, retention_days=retention)
            return _with_panels(settings, redis, panels_for, store, faq, period, views, labels)

        result = with_records_and_redis(settings, figures)
        if fmt == "json":
            click.echo(result.model_dump_json(indent=2))
        elif fmt == "csv":
            click.echo(report_csv(result), nl=False)
        else:
            click.echo(report_text(result), nl=False)

    return report


report = report_command()


@click.group()
def demo() -> None:
    """Demo data, so a new install has something to show."""


@demo.command("seed")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--seed", "seed_value", type=int, default=0, show_default=True, help="Random seed.")
def seed(days: int, seed_value: int) -> None:
    """Fill the Redis at REDIS_URL with `--days` days of realistic demo conversations.

    Use a Redis (or a KEY_PREFIX) of its own: the records look real and stay until
    RECORDS_RETENTION_DAYS has passed. Only an empty store is filled.
    """
    settings = Settings()
    catalog = _catalog()
    if not catalog.names:
        raise click.UsageError("run it as `tsunagu demo seed`: it needs the registered channels")
    try:
        count = with_record_store(
            settings,
            lambda store: seed_demo(store, channels=catalog.names, days=days, seed=seed_value),
        )
    except StoreNotEmpty as exc:
        raise click.ClickException(f"{exc}. Nothing was written.") from exc
    click.echo(
        f"Wrote {count} demo conversations over the last {days} days "
        f"(key prefix '{settings.key_prefix}'). Open /admin, or run: tsunagu report --days {days}"
    )

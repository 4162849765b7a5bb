"""`tsunagu conversations search / show`: /admin's conversation search for scripts.

The same search and the same JSON and CSV as `/admin/api/conversations`, read from the
Redis at REDIS_URL, masked the same way (`PII_MASK_REPORTS`) and on the audit log: a
text listing is a `view`, JSON or CSV an `export`, by `admin:<--by>`.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import cast, get_args

import click
from redis.asyncio import Redis

from bot.actor import Actor
from bot.archive import (
    CSV_COLUMNS,
    ArchivedConversation,
    ConversationArchive,
    Outcome,
    conversations_rows,
    masked,
    query_between,
)
from bot.privacy.audit import Action, AuditLog
from bot.records import RecordStore
from bot.reports.commands import with_records_and_redis
from bot.reports.compute import local_timezone, open_ended
from bot.reports.render import csv_text
from bot.settings import Settings
from bot.storage import Keys
from bot.store.conversations import RedisConversationStore

FORMATS = click.Choice(["text", "json", "csv"])


def _with_archive(
    work: Callable[[ConversationArchive], Awaitable[list[ArchivedConversation]]],
    *,
    by: str,
    action: Action,
    what: str,
) -> list[ArchivedConversation]:
    """Run `work` on the archive at REDIS_URL (masked per `PII_MASK_REPORTS`); each
    conversation it returns is written to the audit log as `action` by `admin:<by>`."""
    settings = Settings()

    async def run(records: RecordStore, redis: Redis) -> list[ArchivedConversation]:
        keys = Keys(settings.key_prefix)
        store = RedisConversationStore(
            redis,
            keys,
            ttl_seconds=settings.conversation_ttl_seconds,
            dedupe_ttl_seconds=settings.dedupe_ttl_seconds,
            ttl_without_reply_seconds=settings.conversation_ttl_without_reply_seconds,
        )
        archive = ConversationArchive(
            redis,
            keys,
            store,
            records,
            retention_days=settings.records_retention_days,
            shown=masked if settings.pii_mask_reports else None,
        )
        found = await work(archive)
        audit = AuditLog(redis, keys, retention_days=settings.audit_retention_days)
        for item in found:
            await audit.write(
                Actor.admin(by),
                action,
                what,
                customer_key=item.customer_key,
                conversation_id=item.conversation_id,
            )
        return found

    return with_records_and_redis(settings, run)


def _login_name() -> str:
    """Who runs the command, as the system knows them (`unknown` in a bare container)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


BY = click.option(
    "--by",
    default=_login_name,
    show_default="your login name",
    help="Who reads (written to the audit log as admin:<name>).",
)


def _at(value: float | None) -> str:
    if not value:
        return "–"
    return datetime.fromtimestamp(value, local_timezone()).strftime("%Y-%m-%d %H:%M")


def _summary(item: ArchivedConversation) -> str:
    """One line: when, who, where, how it went, and the customer's first words."""
    first = next((e.text for e in item.transcript if e.sender == "customer"), "")
    outcome = "handed off" if item.handed_off else "bot only"
    ces = f"CES {item.ces}" if item.ces is not None else "no CES"
    who = item.display_name or item.customer_key
    return (
        f"{_at(item.started_at)}  {item.conversation_id}  {who}  {'+'.join(item.channels)}  "
        f"{outcome}  {item.agent or '–'}  {ces}  {first[:60]!r}"
    )


def _transcript(item: ArchivedConversation) -> str:
    lines = [
        _summary(item),
        f"FAQ answered: {', '.join(item.faq_answered) or '–'}; "
        f"suggested: {', '.join(item.faq_suggested) or '–'}",
        f"queued: {_at(item.queued_at)}; claimed: {_at(item.claimed_at)}; "
        f"ended: {_at(item.ended_at)}",
        "survey: "
        + (
            ", ".join(
                f"{r.question.upper()} {r.score}/{r.scale_high}"
                + (f" {r.comment!r}" if r.comment else "")
                for r in item.survey
            )
            or "–"
        ),
    ]
    for entry in item.transcript:
        where = f" [{entry.channel}]" if entry.channel else ""
        # Customer lines from before the name was known carry the conversation's.
        customer = item.display_name if entry.sender == "customer" else None
        who = entry.sender_name or customer or entry.sender
        lines.append(f"  {_at(entry.time)}  {who}{where}: {entry.text}")
    return "\n".join(lines) + "\n"


def _print(items: list[ArchivedConversation], fmt: str, *, one: bool = False) -> None:
    if fmt == "json":
        docs = [item.model_dump(mode="json") for item in items]
        body = docs[0] if one else {"conversations": docs}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        rows = conversations_rows(items, local_timezone())
        click.echo(csv_text(CSV_COLUMNS, rows), nl=False)
    elif one:
        click.echo(_transcript(items[0]), nl=False)
    else:
        for item in items:
            click.echo(_summary(item))
        click.echo(f"{len(items)} conversation{'' if len(items) == 1 else 's'}", err=True)


@click.group()
def conversations() -> None:
    """Find conversations and export them (what /admin's Conversations view shows)."""


@conversations.command()
@click.option("--text", help="Words said in it (case and width folded).")
@click.option("--channel", help="A channel it used: line, web, slack…")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Started on or after this day.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Started on or before this day.")
@click.option("--ces-min", type=click.IntRange(1, 7), help="CES score at least.")
@click.option("--ces-max", type=click.IntRange(1, 7), help="CES score at most.")
@click.option("--agent", help="Part of an agent's id or name.")
@click.option("--outcome", type=click.Choice(get_args(Outcome)))
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@BY
def search(
    text: str | None,
    channel: str | None,
    since: datetime | None,
    until: datetime | None,
    ces_min: int | None,
    ces_max: int | None,
    agent: str | None,
    outcome: str | None,
    limit: int,
    fmt: str,
    by: str,
) -> None:
    """Conversations matching every filter given, newest first (days in the local zone)."""
    query = query_between(
        since=since.date() if since else None,
        until=open_ended(until.date() if until else None),
        tz=local_timezone(),
        text=text,
        channel=channel,
        ces_min=ces_min,
        ces_max=ces_max,
        agent=agent,
        outcome=cast(Outcome | None, outcome),
        limit=limit,
    )
    action: Action = "view" if fmt == "text" else "export"
    found = _with_archive(
        lambda archive: archive.search(query),
        by=by,
        action=action,
        what=f"tsunagu conversations search --format {fmt}",
    )
    _print(found, fmt)


@conversations.command()
@click.argument("conversation_id")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@BY
def show(conversation_id: str, fmt: str, by: str) -> None:
    """One conversation across channels: transcript, FAQ tried, handoff times, survey."""

    async def one(archive: ConversationArchive) -> list[ArchivedConversation]:
        item = await archive.get(conversation_id)
        return [item] if item is not None else []

    found = _with_archive(
        one,
        by=by,
        action="view" if fmt == "text" else "export",
        what=f"tsunagu conversations show --format {fmt}",
    )
    if not found:
        raise click.ClickException(f"no conversation {conversation_id} (or past retention)")
    _print(found, fmt, one=True)

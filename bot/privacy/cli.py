"""`tsunagu audit`: who viewed, exported or erased customers' data, as a table or JSON."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import click

from bot.privacy.audit import AuditEntry, AuditLog
from bot.settings import Settings
from bot.storage import Keys, connect

_COLUMNS = ("time", "who", "action", "customer", "conversation", "why")


def _row(entry: AuditEntry) -> tuple[str, ...]:
    when = datetime.fromtimestamp(entry.time).astimezone().isoformat(timespec="seconds")
    who = (
        entry.actor_id
        if entry.actor_name in entry.actor_id
        else (f"{entry.actor_id} ({entry.actor_name})")
    )
    return (
        when,
        who,
        entry.action,
        entry.customer_key or "-",
        entry.conversation_id or "-",
        entry.reason,
    )


def render_table(entries: list[AuditEntry]) -> str:
    """The entries as aligned columns, oldest first."""
    rows = [_COLUMNS, *(_row(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def render_json(entries: list[AuditEntry]) -> str:
    """The entries as a JSON array (times in epoch seconds)."""
    return json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False, indent=2)


@click.command()
@click.option("--customer", "customer_key", help="Only this customer's (channel:user).")
@click.option("--agent", "actor_id", help="Only this agent's (an id: slack:U…, console:Sato, …).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def audit(customer_key: str | None, actor_id: str | None, fmt: str) -> None:
    """Show the audit log: every view of a conversation's original messages by the agent
    holding it, every export of customer data and every `tsunagu forget`."""
    settings = Settings()
    if not settings.redis_url:
        raise click.ClickException(
            "REDIS_URL is not set: the embedded Redis lives inside the server and keeps no "
            "audit log this command can read"
        )
    url = settings.redis_url

    async def read() -> list[AuditEntry]:
        redis = connect(url)
        try:
            log = AuditLog(
                redis, Keys(settings.key_prefix), retention_days=settings.audit_retention_days
            )
            return [e async for e in log.read(customer_key=customer_key, actor_id=actor_id)]
        finally:
            await redis.aclose()

    entries = asyncio.run(read())
    click.echo(render_json(entries) if fmt == "json" else render_table(entries))

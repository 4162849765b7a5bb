"""Erase one customer's data (a deletion request): `tsunagu forget <channel:user>`.

What goes: the live conversation, its transcript and history, every per-conversation
marker (all under the customer's hash tag), the handoff queue entry, the console's list
entry and pending timers, whatever each channel and desk keeps about the customer (asked
of each registered channel: cached profiles, a Slack escalation thread's index…), and the
customer's report records (ended conversations, survey answers, the "did you mean…?"
choices they tapped, the answers they rejected, the agent replies to them, and the
unanswered questions of their conversations), the events of theirs that were
dead-lettered, the sends to them that were parked or could not be delivered, the /admin
copies of their conversations and their place among linked identities. Each channel
may then mark what must outlive the erasure (the web channel revokes the customer's token
for as long as it could still be valid, so it cannot start a new conversation).
Counts for the reports that do not name anyone (Prometheus counters) stay.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import click
from redis.asyncio import Redis

from bot.actor import Actor
from bot.channel_catalog import ChannelCatalog
from bot.identity import Identities
from bot.ports import CustomerData
from bot.privacy.audit import AuditLog
from bot.records import CUSTOMER_STREAMS
from bot.settings import Settings
from bot.storage import Keys

log = logging.getLogger("tsunagu.forget")

_CUSTOMER_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}:[^\s:][^\s]*$")


@dataclass
class Forgotten:
    """What was erased."""

    customer_key: str
    keys: int = 0
    records: int = 0
    dead_letters: int = 0
    conversations: set[str] = field(default_factory=set)


def check_customer_key(customer_key: str, channels: Sequence[str] = ()) -> None:
    """Raise `ValueError` unless `customer_key` is `channel:user` (of one of `channels`,
    when they are given)."""
    if not _CUSTOMER_KEY.match(customer_key):
        raise ValueError(f"not a customer key (channel:user): {customer_key!r}")
    channel = customer_key.split(":", 1)[0]
    if channels and channel not in channels:
        raise ValueError(f"no channel {channel!r}; the channels are {', '.join(channels)}")


async def forget_customer(
    redis: Redis,
    keys: Keys,
    customer_key: str,
    *,
    customer_data: Sequence[CustomerData] = (),
    settings: Settings | None = None,
) -> Forgotten:
    """Erase everything stored about `customer_key` (`channel:user`); safe to repeat.

    `customer_data` are the channels and desks that keep data of their own about customers
    (the runtime's `ChannelCatalog.customer_data`); each is asked for the customer's keys
    and told once they are gone (`settings` are passed on to them)."""
    check_customer_key(customer_key)
    channel, user_id = customer_key.split(":", 1)
    done = Forgotten(customer_key)

    # The conversation ids, so that report records without a customer key go too.
    current = await redis.hget(keys.conversation(customer_key), "id")
    if current:
        done.conversations.add(str(current))
    for line in cast(list[str], await redis.lrange(keys.history(customer_key), 0, -1)):
        try:
            conversation_id = json.loads(line).get("conversation_id")
        except (ValueError, AttributeError):
            continue
        if conversation_id:
            done.conversations.add(str(conversation_id))

    # Every key of the customer's own shares the hash tag {channel:user}; the channels and
    # desks name the rest.
    pattern = keys.customer_pattern(customer_key)
    doomed = [str(key) async for key in redis.scan_iter(match=pattern, count=1000)]
    for part in customer_data:
        doomed += await part.customer_keys(redis, keys, customer_key)
    for start in range(0, len(doomed), 500):
        done.keys += int(await redis.delete(*doomed[start : start + 500]))

    await redis.zrem(keys.queue(), customer_key)
    await redis.zrem(keys.console_open(), customer_key)
    # The /admin copies of their conversations, and their place among linked identities.
    for conversation_id in done.conversations:
        done.keys += int(await redis.delete(keys.archive(conversation_id)))
        await redis.zrem(keys.archive_index(), conversation_id)
    await Identities(redis, keys).unlink(customer_key)
    timers = keys.timers()
    async for member, _ in redis.zscan_iter(timers, match=f"*|{_glob_escape(customer_key)}|*"):
        done.keys += int(await redis.zrem(timers, member))

    # Report records: found by customer key, or by conversation id for unanswered ones.
    for kind in CUSTOMER_STREAMS:
        done.records += await _delete_records(redis, keys.records(kind), done, by_customer=True)
    done.records += await _delete_records(
        redis, keys.records("unanswered"), done, by_customer=False
    )
    done.dead_letters = await _delete_dead_letters(redis, keys.inbox_dead(), channel, user_id)
    # Sends that could not be delivered name the customer; their parked sends went above
    # with the customer's keys, the lanes' schedules only point at them.
    done.records += await _delete_entries(
        redis, keys.outbound_failed(), lambda fields: fields.get("customer") == customer_key
    )
    lanes = redis.scan_iter(match=keys.outbound_due("*"), count=1000, _type="zset")
    async for lane_key in lanes:
        await redis.zrem(lane_key, customer_key)
    for part in customer_data:
        await part.erased(redis, keys, customer_key, settings or Settings())
    log.info(
        "customer data erased",
        extra={
            "customer": customer_key,
            "keys": done.keys,
            "records": done.records,
            "dead_letters": done.dead_letters,
        },
    )
    return done


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def _delete_entries(
    redis: Redis, stream: str, doomed: Callable[[dict[str, str]], bool]
) -> int:
    """Delete the entries of `stream` whose fields `doomed` picks; the count deleted."""
    deleted = 0
    start = "-"
    while True:
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await redis.xrange(stream, min=start, max="+", count=1000),
        )
        picked = [entry_id for entry_id, fields in entries if doomed(fields)]
        if picked:
            deleted += int(await redis.xdel(stream, *picked))
        if len(entries) < 1000:
            return deleted
        start = "(" + entries[-1][0]


def _json_field(fields: dict[str, str], name: str) -> dict[str, object]:
    try:
        value = json.loads(fields.get(name, "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _delete_records(redis: Redis, stream: str, done: Forgotten, *, by_customer: bool) -> int:
    """Report records of the customer (by key), or of their conversations (by id)."""

    def doomed(fields: dict[str, str]) -> bool:
        record = _json_field(fields, "r")
        if not by_customer:
            return record.get("conversation_id") in done.conversations
        if record.get("customer_key") != done.customer_key:
            return False
        if record.get("conversation_id"):
            done.conversations.add(str(record["conversation_id"]))
        return True

    return await _delete_entries(redis, stream, doomed)


async def _delete_dead_letters(redis: Redis, stream: str, channel: str, user_id: str) -> int:
    """Delete the customer's events from the dead letters (they hold the full text)."""

    def doomed(fields: dict[str, str]) -> bool:
        event = _json_field(fields, "event")
        return event.get("channel") == channel and event.get("user_id") == user_id

    return await _delete_entries(redis, stream, doomed)


async def forget_linked_customer(
    redis: Redis,
    keys: Keys,
    customer_key: str,
    *,
    customer_data: Sequence[CustomerData] = (),
    settings: Settings | None = None,
) -> list[Forgotten]:
    """Erase `customer_key` and every identity linked with it (LINE, web, …) at once."""
    check_customer_key(customer_key)
    members = await Identities(redis, keys).erase(customer_key)
    return [
        await forget_customer(redis, keys, member, customer_data=customer_data, settings=settings)
        for member in members
    ]


def _login_name() -> str:
    """Who runs the command, as the system knows them (`unknown` in a bare container)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@click.command()
@click.argument("customer_key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--linked", is_flag=True, help="Erase every identity linked with this one too (one customer)."
)
@click.option(
    "--by",
    default=_login_name,
    show_default="your login name",
    help="Who erases (written to the audit log as admin:<name>).",
)
@click.option(
    "--reason", default="deletion request", show_default=True, help="Why (for the audit log)."
)
@click.pass_obj
def forget(
    catalog: ChannelCatalog | None, customer_key: str, yes: bool, linked: bool, by: str, reason: str
) -> None:
    """Erase one customer's data (a deletion request), e.g. `tsunagu forget line:U123…`.

    The erasure is written to the audit log (`tsunagu audit`), once per customer erased."""
    import asyncio

    from bot.logs import configure_logging
    from bot.settings import get_settings
    from bot.storage import connect_with

    if not isinstance(catalog, ChannelCatalog):
        raise click.UsageError("run it as `tsunagu forget`: it needs the registered channels")
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, mask=settings.pii_mask_logs)
    if settings.embedded_redis:
        raise click.ClickException("set REDIS_URL: the embedded Redis keeps nothing to erase")
    try:
        check_customer_key(customer_key, catalog.names)
    except ValueError as exc:
        raise click.BadParameter(
            f"{exc}; expected channel:user, e.g. line:U4af4980629…", param_hint="KEY"
        ) from None
    if not yes:
        click.confirm(f"Erase every record of {customer_key}?", abort=True)

    async def run() -> list[Forgotten]:
        redis = connect_with(settings)
        keys = Keys(settings.key_prefix)
        try:
            if linked:
                done = await forget_linked_customer(
                    redis,
                    keys,
                    customer_key,
                    customer_data=catalog.customer_data,
                    settings=settings,
                )
            else:
                one = await forget_customer(
                    redis,
                    keys,
                    customer_key,
                    customer_data=catalog.customer_data,
                    settings=settings,
                )
                done = [one]
            audit = AuditLog(redis, keys, retention_days=settings.audit_retention_days)
            for gone in done:
                await audit.write(Actor.admin(by), "forget", reason, customer_key=gone.customer_key)
            return done
        finally:
            await redis.aclose()

    for done in asyncio.run(run()):
        click.echo(
            f"{done.customer_key}: erased {done.keys} keys and {done.records} report records "
            f"({len(done.conversations)} conversations), {done.dead_letters} dead letters."
        )

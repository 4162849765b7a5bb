"""Erase one customer's data (a deletion request): `tsunagu forget <channel:user>`.

What goes: the live conversation, its transcript and history, the web message stream,
every per-conversation marker, the handoff queue entry and pending timers, cached LINE and
Slack profiles, the Slack escalation thread's index, and the customer's report records
(ended conversations, survey answers, the "did you mean…?" choices they tapped, the answers
they rejected, the agent replies to them, and the unanswered questions of their conversations),
the events of theirs that were dead-lettered, the sends to them that were parked or could
not be delivered, and, for a web customer, their token: it is revoked for as long as it
could still be valid, so it cannot start a new conversation.
Counts for the reports that do not name anyone (Prometheus counters) stay.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import click
from redis.asyncio import Redis

from bot.actor import Actor
from bot.identity import Identities
from bot.privacy.audit import AuditLog
from bot.records import CUSTOMER_STREAMS
from bot.storage import Keys

log = logging.getLogger("tsunagu.forget")

_CUSTOMER_KEY = re.compile(r"^(line|slack|web):[^\s:][^\s]*$")


@dataclass
class Forgotten:
    """What was erased."""

    customer_key: str
    keys: int = 0
    records: int = 0
    dead_letters: int = 0
    conversations: set[str] = field(default_factory=set)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def forget_customer(
    redis: Redis, keys: Keys, customer_key: str, *, token_ttl_seconds: int = 30 * 24 * 3600
) -> Forgotten:
    """Erase everything stored about `customer_key` (`channel:user`); safe to repeat.

    A web customer's token is refused from now on for `token_ttl_seconds`
    (`WEB_TOKEN_TTL_SECONDS`), after which it has expired anyway."""
    if not _CUSTOMER_KEY.match(customer_key):
        raise ValueError(f"not a customer key (channel:user): {customer_key!r}")
    channel, user_id = customer_key.split(":", 1)
    done = Forgotten(customer_key)
    prefix = keys.prefix

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

    # The Slack desk's index of threads (escalations, low-score alerts) by message ts.
    doomed: list[str] = []
    async for key in redis.scan_iter(match=f"{_glob_escape(prefix)}:slack:thread:*", count=1000):
        raw = await redis.get(key)
        try:
            owner = json.loads(raw).get("customer_key") if raw else None
        except (ValueError, AttributeError):
            owner = None
        if owner == customer_key:
            doomed.append(str(key))

    # Every key of the customer shares the hash tag {channel:user}.
    pattern = f"{_glob_escape(prefix)}:conv:{{{_glob_escape(customer_key)}}}:*"
    async for key in redis.scan_iter(match=pattern, count=1000):
        doomed.append(str(key))
    if channel == "line":
        doomed += [
            f"{prefix}:line:{what}:{user_id}"
            for what in ("profile", "unreachable", "latest_token", "read_token")
        ]
    if channel == "slack":
        doomed.append(f"{prefix}:slack:user:{user_id}")
    if channel == "web":
        doomed.append(f"{prefix}:ratelimit:web_token:{user_id}")
    for start in range(0, len(doomed), 500):
        done.keys += int(await redis.delete(*doomed[start : start + 500]))

    await redis.zrem(keys.queue(), customer_key)
    await redis.zrem(f"{prefix}:console:open", customer_key)
    # The /admin copies of their conversations, and their place among linked identities.
    for conversation_id in done.conversations:
        done.keys += int(await redis.delete(keys.archive(conversation_id)))
        await redis.zrem(keys.archive_index(), conversation_id)
    await Identities(redis, keys).unlink(customer_key)
    timers = f"{prefix}:timers"
    async for member, _ in redis.zscan_iter(timers, match=f"*|{_glob_escape(customer_key)}|*"):
        done.keys += int(await redis.zrem(timers, member))

    # Report records: found by customer key, or by conversation id for unanswered ones.
    for kind in CUSTOMER_STREAMS:
        done.records += await _delete_records(
            redis, f"{prefix}:records:{kind}", done, by_customer=True
        )
    done.records += await _delete_records(
        redis, f"{prefix}:records:unanswered", done, by_customer=False
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
    if channel == "web":
        await redis.set(keys.web_revoked(user_id), "1", ex=token_ttl_seconds)
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
    redis: Redis, keys: Keys, customer_key: str, *, token_ttl_seconds: int = 30 * 24 * 3600
) -> list[Forgotten]:
    """Erase `customer_key` and every identity linked with it (LINE, web, …) at once."""
    if not _CUSTOMER_KEY.match(customer_key):
        raise ValueError(f"not a customer key (channel:user): {customer_key!r}")
    members = await Identities(redis, keys).erase(customer_key)
    return [
        await forget_customer(redis, keys, member, token_ttl_seconds=token_ttl_seconds)
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
def forget(customer_key: str, yes: bool, linked: bool, by: str, reason: str) -> None:
    """Erase one customer's data (a deletion request), e.g. `tsunagu forget line:U123…`.

    The erasure is written to the audit log (`tsunagu audit`), once per customer erased."""
    import asyncio

    from bot.logs import configure_logging
    from bot.settings import get_settings
    from bot.storage import connect_with

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, mask=settings.pii_mask_logs)
    if settings.embedded_redis:
        raise click.ClickException("set REDIS_URL: the embedded Redis keeps nothing to erase")
    if not _CUSTOMER_KEY.match(customer_key):
        raise click.BadParameter("expected channel:user, e.g. line:U4af4980629…", param_hint="KEY")
    if not yes:
        click.confirm(f"Erase every record of {customer_key}?", abort=True)

    async def run() -> list[Forgotten]:
        redis = connect_with(settings)
        keys, ttl = Keys(settings.key_prefix), settings.web_token_ttl_seconds
        try:
            if linked:
                done = await forget_linked_customer(
                    redis, keys, customer_key, token_ttl_seconds=ttl
                )
            else:
                done = [await forget_customer(redis, keys, customer_key, token_ttl_seconds=ttl)]
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

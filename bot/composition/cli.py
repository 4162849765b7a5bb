"""The `tsunagu` command line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import click
import uvicorn
from redis.asyncio import Redis

from bot.faq.commands import faq
from bot.forget import forget
from bot.logs import configure_logging
from bot.ports import PanelSource
from bot.privacy.cli import audit
from bot.reports.commands import demo, report_command
from bot.reports.conversation_commands import conversations
from bot.serving import run_event_loop
from bot.settings import Settings, get_settings
from channels.registry import channel_catalog, registered_channels

if TYPE_CHECKING:
    from bot.composition.app import ServedApp


@contextlib.asynccontextmanager
async def serve_app(settings: Settings, port: int = 0) -> AsyncIterator[ServedApp]:
    """`bot.composition.app.serve_app`, imported only when a command serves the app."""
    from bot.composition.app import serve_app as serve

    async with serve(settings, port) as served:
        yield served


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Tsunagu: an omnichannel customer-support bot (LINE, Slack, web).

    Settings come from environment variables or a .env file; see .env.example.
    """
    # The commands of the core (forget, report, demo) learn the channels from here.
    ctx.obj = channel_catalog()


def _channel_panels(
    settings: Settings, redis: Redis
) -> AbstractAsyncContextManager[list[PanelSource]]:
    """The configured channels' panels for `tsunagu report` (imported only when used)."""
    from bot.composition.runtime import status_panels

    return status_panels(settings, redis)


@main.command()
@click.option("--host", default=None, help="Interface to bind (default: HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: PORT or 8000).")
@click.option(
    "--demo-data",
    is_flag=True,
    help="Fill an empty store with 30 days of sample conversations (to try /admin).",
)
def serve(host: str | None, port: int | None, demo_data: bool) -> None:
    """Run the web server (webhooks, web widget, APIs) with an inbox worker inside."""
    from bot.composition.app import create_app
    from bot.serving import uvicorn_config

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, mask=settings.pii_mask_logs)
    app = create_app(settings, demo_data=demo_data)
    config = uvicorn_config(app, settings, host=host or settings.host, port=port or settings.port)
    uvicorn.Server(config).run()


@main.command()
@click.option(
    "--burst",
    is_flag=True,
    help="Handle what is in the inbox now, then exit (once every event is settled).",
)
def worker(burst: bool) -> None:
    """Run an inbox worker alone (scale these out; they share the work through Redis)."""
    from bot.composition.runtime import Runtime

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, mask=settings.pii_mask_logs)
    if settings.embedded_redis:
        raise click.ClickException(
            "a separate worker needs a shared Redis: set REDIS_URL "
            "(with the embedded Redis, `tsunagu serve` runs the worker itself)"
        )

    async def run() -> None:
        runtime = Runtime(settings)
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        if burst:
            await runtime.start(run_worker=False)
            await runtime.drain_inbox(stopping)
        else:
            await runtime.start(run_worker=True)
            await stopping.wait()
        await runtime.stop()

    run_event_loop(run())


main.add_command(faq)
main.add_command(report_command(_channel_panels))
main.add_command(demo)
main.add_command(conversations)
main.add_command(forget)
main.add_command(audit)
for _plugin in registered_channels():
    _commands = _plugin.commands(serve_app)
    if _commands is not None:
        main.add_command(_commands, _plugin.name)

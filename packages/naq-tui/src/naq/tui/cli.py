"""``naq-tui`` (also ``naq tui``): the live monitor in the terminal.

Exit codes: 0 after quitting; 4 bad settings (see naq.client's command line). An unreachable
server is not an exit: the monitor shows it and keeps retrying.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from naq.client import ConfigurationError, Settings
from naq.client.runtime import EXIT_CONFIG, TYPER_SETTINGS, NatsUrlOption, closing
from naq.tui.app import make_app

__all__ = ["app", "main", "tui_command"]


def tui_command(
    nats_url: NatsUrlOption = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Show everything, change nothing: the action keys are hidden.")
    ] = False,
) -> None:
    """Watch queues, workers and schedules live; pause and resume schedules."""
    try:
        # Checked before the screen is taken over, so a bad setting is a plain message. No log
        # sink is added: lines on stderr would tear the monitor's screen.
        settings = Settings.from_env(nats_url=nats_url)
    except ConfigurationError as exc:
        typer.echo(f"naq-tui: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    monitor = make_app(",".join(settings.servers), read_only=read_only)
    asyncio.run(closing(monitor.run_async()))


app = typer.Typer(name="naq-tui", help="The naq monitor.", add_completion=False, **TYPER_SETTINGS)
app.command()(tui_command)


def main() -> None:
    """Entry point of the ``naq-tui`` console script."""
    app()

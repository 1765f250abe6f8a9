"""``naq-scheduler`` (also ``naq scheduler``): run a scheduler until SIGTERM/SIGINT.

Exit codes: 0 stopped cleanly; 3 NATS unreachable; 4 bad settings (see naq.client's command line).
``--check`` (a container's health check) exits 0 if this host's scheduler refreshed its alive file
recently, 1 if not.
"""

from __future__ import annotations

from typing import Annotated

import typer

from naq.client.runtime import (
    EXIT_FAILED,
    TYPER_SETTINGS,
    LogLevelOption,
    NatsUrlOption,
    cli_settings,
    closing,
    run_command,
)
from naq.scheduler._health import DEFAULT_ALIVE_FILE, check_alive_file, stale_after
from naq.scheduler._scheduler import Scheduler

__all__ = ["app", "main", "scheduler_command"]


def scheduler_command(
    poll_interval: Annotated[
        float | None, typer.Option("--poll-interval", help="Seconds between ticks (env: NAQ_SCHEDULER_POLL_INTERVAL).")
    ] = None,
    instance_id: Annotated[
        str | None, typer.Option("--instance-id", help="This scheduler's id (default: host-pid-random).")
    ] = None,
    enable_ha: Annotated[
        bool,
        typer.Option("--ha/--no-ha", help="Elect a leader among schedulers (--no-ha: run only one scheduler)."),
    ] = True,
    lock_ttl: Annotated[
        int | None, typer.Option("--lock-ttl", help="Leader lock TTL, whole seconds (env: NAQ_SCHEDULER_LOCK_TTL).")
    ] = None,
    renew_interval: Annotated[
        float | None,
        typer.Option("--renew-interval", help="Seconds between renewals (env: NAQ_SCHEDULER_LOCK_RENEW_INTERVAL)."),
    ] = None,
    alive_file: Annotated[
        str | None,
        typer.Option(
            "--alive-file",
            # The path is not shown: click would break it at its hyphen.
            help="File refreshed every tick, read by --check (env: NAQ_SCHEDULER_ALIVE_FILE; default: a fixed "
            "file in the temporary directory, the same for both).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Health check, then exit: 0 if the scheduler that writes the alive file is running and "
            "refreshed it within 3 polls (at least 10 s), 1 if not. Give it the same --alive-file and "
            "--poll-interval as the scheduler.",
        ),
    ] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Fire delayed and recurring jobs; run 2-3 for high availability (one leads)."""
    settings = cli_settings(
        nats_url,
        log_level,
        scheduler_poll_interval=poll_interval,
        scheduler_lock_ttl=lock_ttl,
        scheduler_lock_renew_interval=renew_interval,
        scheduler_alive_file=alive_file,
    )
    path = settings.scheduler_alive_file or DEFAULT_ALIVE_FILE
    if check:
        healthy, reason = check_alive_file(path, stale_after(settings))
        if not healthy:
            typer.echo(f"naq-scheduler: unhealthy: {reason}", err=True)
            raise typer.Exit(EXIT_FAILED)
        typer.echo(f"naq-scheduler: healthy: {reason}")
        return

    scheduler = Scheduler(instance_id=instance_id, enable_ha=enable_ha, settings=settings, alive_file=path)
    run_command(closing(scheduler.run()))


app = typer.Typer(name="naq-scheduler", help="Run a naq scheduler.", add_completion=False, **TYPER_SETTINGS)
app.command()(scheduler_command)


def main() -> None:
    """Entry point of the ``naq-scheduler`` console script."""
    app()
